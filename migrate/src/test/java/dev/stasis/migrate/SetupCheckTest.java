package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.SectionMessages;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmConfigSection;
import java.io.OutputStream;
import java.net.Socket;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * An authenticated source that asks for too much, or breaks the framing after SETUP: a SETUP beyond this host's
 * memory is refused before ACCEPT (nothing built), and an END with bytes after its fields is refused,
 * not taken as READY; a VM that passes the checks at SETUP but cannot be built is refused at the next ROUND. Each end
 * frees the destination's VM (no KVM VM descriptor left open).
 */
@RequiresKvm
class SetupCheckTest {
    private static final Auth KEY = InProcessMigrationTest.KEY;

    @Test
    void aGuestBiggerThanThisHostIsRefusedBeforeAccept() throws Exception {
        long vmsBefore = Loopback.openVms(); // an earlier test's receiver may still be closing its own
        long tooMuch = Math.min(512L << 30, (HostCapacity.memAvailable() + (1L << 30)) & ~((2L << 20) - 1)) ;
        assertTrue(tooMuch > HostCapacity.memAvailable(), "the test needs a host with less than 512 GiB available");
        String why = refusedSetup(VmConfig.of(tooMuch, 1));
        assertTrue(why.contains("cannot hold the guest: the guest needs " + (tooMuch >> 20) + " MiB of RAM and this host has"), why);
        assertTrue(Loopback.openVms() <= vmsBefore, "nothing was built for a refused guest");
    }

    @Test
    void vcpusMayOutnumberHostCpusButNotKvmsLimit() {
        HostCapacity host = new HostCapacity(1L << 30, 4);
        assertNull(host.refusal(VmConfig.of(16 << 20, 4)), "overcommit of host CPUs is allowed, as for run and restore");
        assertEquals("the guest has 8 vCPUs and this host's KVM allows 4", host.refusal(VmConfig.of(16 << 20, 8)));
        assertEquals("the guest needs 2048 MiB of RAM and this host has 1024 MiB available", host.refusal(VmConfig.of(2L << 30, 1)));
    }

    @Test
    void anEndWithTrailingBytesIsRefusedNotReady() throws Exception {
        long vmsBefore = Loopback.openVms();
        try (Loopback dest = new Loopback()) {
            CompletableFuture<?> incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(KEY));
            try (Channel ch = source(dest)) {
                ch.send(MessageType.SETUP, setup(VmConfig.of(16 << 20, 1)));
                ch.expect(MessageType.ACCEPT, d -> d.u64("session"));
                byte[] extra = new byte[40];
                new Random().nextBytes(extra);
                ch.send(MessageType.END, new Encoder().varUnsigned(0).u64(0).raw(extra));
                var refused = assertThrows(MigrationException.class, () -> ch.expectEmpty(MessageType.READY));
                assertTrue(refused.getMessage().contains("bad END") && refused.getMessage().contains("40 unexpected bytes after END"), refused.getMessage());
            }
            var e = assertThrows(ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("40 unexpected bytes after END"), e.getCause().getMessage());
        }
        assertEquals(vmsBefore, Loopback.openVms(), "the destination freed its VM");
    }

    @Test
    void aVmThatCannotBeBuiltIsRefusedAtTheNextRoundAndFreed() throws Exception {
        // The destination builds its VM while the pages come: one whose vCPUs KVM will not take (an MSR it does not
        // know, set as the model's preset) passes the checks at SETUP and fails in the build.
        long vmsBefore = Loopback.openVms();
        VmConfig base = VmConfig.of(16 << 20, 1);
        GuestCpu cpu = base.cpu();
        VmConfig broken = base.withCpu(new GuestCpu(cpu.model(), cpu.portable(), cpu.features(), java.util.Map.of(0x7fff_0000, 1L), cpu.pmu(), cpu.masked()));
        try (Loopback dest = new Loopback()) {
            CompletableFuture<?> incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(KEY));
            try (Channel ch = source(dest)) {
                ch.send(MessageType.SETUP, setup(broken));
                ch.expect(MessageType.ACCEPT, d -> d.u64("session"));
                // Empty rounds, answered while the build goes on, until the one after it failed is refused.
                MigrationException refused = null;
                for (int round = 1; refused == null && round <= 200; round++) {
                    ch.send(MessageType.ROUND, new Encoder().varUnsigned(round).varUnsigned(0));
                    try {
                        ch.expect(MessageType.ROUND, d -> d.varUnsigned("round", Long.MAX_VALUE));
                        Thread.sleep(50);
                    } catch (MigrationException e) {
                        refused = e;
                    }
                }
                assertNotNull(refused, "no ROUND was refused in 10 s");
                assertTrue(refused.getMessage().contains("the destination cannot build the VM") && refused.getMessage().contains("KVM refused"), refused.getMessage());
            }
            var e = assertThrows(ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().startsWith("cannot build the incoming VM: "), e.getCause().getMessage());
        }
        assertEquals(vmsBefore, Loopback.openVms(), "nothing of the VM is left open");
    }

    /** The destination's REFUSE reason for a SETUP announcing {@code config}; the receiver ends with it. */
    private static String refusedSetup(VmConfig config) throws Exception {
        try (Loopback dest = new Loopback()) {
            CompletableFuture<?> incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(KEY));
            String reason;
            try (Channel ch = source(dest)) {
                ch.send(MessageType.SETUP, setup(config));
                reason = assertThrows(MigrationException.class, () -> ch.expect(MessageType.ACCEPT)).getMessage();
            }
            var e = assertThrows(ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().startsWith("cannot hold the incoming guest: "), e.getCause().getMessage());
            return reason;
        }
    }

    private static Channel source(Loopback dest) throws Exception {
        Channel ch = new Channel(new Socket(dest.address.getAddress(), dest.address.getPort()), FaultHook.NONE, new AtomicInteger());
        Handshake.client(ch, KEY, 0, 0);
        return ch;
    }

    private static Encoder setup(VmConfig config) {
        return new Encoder().varUnsigned(1).u64(config.layout().totalSize()).varUnsigned(0).raw(SectionMessages.encode(VmConfigSection.DESCRIPTION, 0, config));
    }
}
