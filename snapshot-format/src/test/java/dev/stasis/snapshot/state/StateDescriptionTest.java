package dev.stasis.snapshot.state;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class StateDescriptionTest {
    record Point(long x, long y) {}

    record DeviceV1(int mode, byte[] fifo, List<Point> points) {}

    record DeviceV2(int mode, byte[] fifo, List<Point> points, long trigger) {}

    static final StateDescription<Point> POINT = StateDescription.of("point", Point.class, 1)
            .i64("x", Point::x).i64("y", Point::y)
            .build(r -> new Point(r.getLong("x"), r.getLong("y")));

    static final StateDescription<DeviceV1> V1 = StateDescription.of("dev", DeviceV1.class, 1)
            .u8("mode", DeviceV1::mode).bytes("fifo", DeviceV1::fifo).list("points", POINT, DeviceV1::points)
            .build(r -> new DeviceV1(r.getInt("mode"), r.getBytes("fifo"), r.getList("points").stream().map(POINT::fromNormalized).toList()));

    static final StateDescription<DeviceV2> V2 = StateDescription.of("dev", DeviceV2.class, 2).minVersion(1)
            .u8("mode", DeviceV2::mode).bytes("fifo", DeviceV2::fifo).list("points", POINT, DeviceV2::points)
            .u32("trigger", DeviceV2::trigger).since(2, 8L)
            .build(r -> new DeviceV2(r.getInt("mode"), r.getBytes("fifo"), r.getList("points").stream().map(POINT::fromNormalized).toList(),
                    r.getLong("trigger")));

    @Test
    void version2LoadsVersion1StateWithTheNewFieldAtItsDefault() {
        StateRecord old = V1.save(new DeviceV1(3, new byte[] {1, 2}, List.of(new Point(1, -2))));
        DeviceV2 loaded = V2.load(old, 1);
        assertEquals(3, loaded.mode());
        assertArrayEquals(new byte[] {1, 2}, loaded.fifo());
        assertEquals(List.of(new Point(1, -2)), loaded.points());
        assertEquals(8, loaded.trigger());
    }

    @Test
    void saveThenLoadAtTheCurrentVersionGivesTheSameState() {
        DeviceV2 s = new DeviceV2(255, new byte[0], List.of(), 0xffff_ffffL);
        DeviceV2 back = V2.load(V2.save(s), 2);
        assertEquals(s.mode(), back.mode());
        assertEquals(s.trigger(), back.trigger());
    }

    @Test
    void aNewerVersionIsRefusedNamingTheSectionAndVersions() {
        StateRecord r = V2.save(new DeviceV2(1, new byte[0], List.of(), 1));
        StateException e = assertThrows(StateException.class, () -> V1.load(r, 2));
        assertTrue(e.getMessage().contains("section dev: version 2 was written by a newer stasis"), e.getMessage());
        assertTrue(e.getMessage().contains("versions 1 to 1"), e.getMessage());
    }

    @Test
    void missingMistypedAndOutOfRangeFieldsAreRefusedByName() {
        StateRecord missing = StateRecord.builder().putLong("mode", 1).put("points", List.of()).build();
        assertTrue(assertThrows(StateException.class, () -> V1.load(missing, 1)).getMessage().contains("dev.fifo is missing"));
        StateRecord mistyped = StateRecord.builder().putBool("mode", true).put("fifo", new byte[0]).put("points", List.of()).build();
        assertTrue(assertThrows(StateException.class, () -> V1.load(mistyped, 1)).getMessage().contains("dev.mode should be U8"));
        StateRecord range = StateRecord.builder().putLong("mode", 256).put("fifo", new byte[0]).put("points", List.of()).build();
        assertTrue(assertThrows(StateException.class, () -> V1.load(range, 1)).getMessage().contains("out of range for U8"));
        StateRecord nested = StateRecord.builder().putLong("mode", 1).put("fifo", new byte[0])
                .put("points", List.of(StateRecord.builder().putLong("x", 1).build())).build();
        assertTrue(assertThrows(StateException.class, () -> V1.load(nested, 1)).getMessage().contains("dev.points[0].y is missing"));
    }

    @Test
    void saveRefusesAValueThatDoesNotFitItsType() {
        assertThrows(IllegalArgumentException.class, () -> V1.save(new DeviceV1(300, new byte[0], List.of())));
    }
}
