package dev.stasis.snapshot.container;

import dev.stasis.snapshot.state.StateDescription;
import java.util.List;

/** Test states covering every field type, nested structs and lists. */
final class States {
    private States() {}

    record Reg(long index, long value) {}

    record Timer(boolean armed, long remaining, Reg reg) {}

    record Everything(boolean flag, long u8, long u16, long u32, long u64, long i32, long i64, byte[] blob, String text,
                      long[] msrs, Timer timer, List<Reg> regs) {}

    static final StateDescription<Reg> REG = StateDescription.of("reg", Reg.class, 1)
            .u32("index", Reg::index).u64("value", Reg::value)
            .build(r -> new Reg(r.getLong("index"), r.getLong("value")));

    static final StateDescription<Timer> TIMER = StateDescription.of("timer", Timer.class, 1)
            .bool("armed", Timer::armed).u64("remaining_ns", Timer::remaining).struct("deadline_reg", REG, Timer::reg)
            .build(r -> new Timer(r.getBool("armed"), r.getLong("remaining_ns"), REG.fromNormalized(r.getStruct("deadline_reg"))));

    static final StateDescription<Everything> EVERYTHING = StateDescription.of("everything", Everything.class, 3).minVersion(1)
            .bool("flag", Everything::flag).u8("mode", Everything::u8).u16("divisor", Everything::u16).u32("count", Everything::u32)
            .u64("tsc", Everything::u64).i32("offset", Everything::i32).i64("delta", Everything::i64)
            .bytes("fifo", Everything::blob).string("label", Everything::text).longs("msr_values", Everything::msrs)
            .struct("timer", TIMER, Everything::timer).list("regs", REG, Everything::regs)
            .build(r -> new Everything(r.getBool("flag"), r.getLong("mode"), r.getLong("divisor"), r.getLong("count"), r.getLong("tsc"),
                    r.getLong("offset"), r.getLong("delta"), r.getBytes("fifo"), r.getString("label"), r.getLongs("msr_values"),
                    TIMER.fromNormalized(r.getStruct("timer")), r.getList("regs").stream().map(REG::fromNormalized).toList()));

    static Everything sample(int n) {
        return new Everything(n % 2 == 0, 255, 0xffff, 0xffff_ffffL, -1L, Integer.MIN_VALUE, Long.MIN_VALUE + n,
                new byte[] {1, 2, 3, (byte) n}, "vcpu " + n + " \u00e9t\u00e9", new long[] {0, -1, Long.MAX_VALUE, n},
                new Timer(true, 1_600_000L + n, new Reg(0x6e0, 0x1234_5678_9abcL)),
                List.of(new Reg(0x10, n), new Reg(0xc000_0080L, 0xd01), new Reg(0xffff_ffffL, Long.MIN_VALUE)));
    }

    /** A device at version 1 and its version 2 with a late field. */
    record DevV1(long mode) {}

    record DevV2(long mode, long trigger) {}

    static final StateDescription<DevV1> DEV_V1 = StateDescription.of("dev", DevV1.class, 1)
            .u8("mode", DevV1::mode).build(r -> new DevV1(r.getLong("mode")));

    static final StateDescription<DevV2> DEV_V2 = StateDescription.of("dev", DevV2.class, 2).minVersion(1)
            .u8("mode", DevV2::mode).u16("trigger", DevV2::trigger).since(2, 8L)
            .build(r -> new DevV2(r.getLong("mode"), r.getLong("trigger")));
}
