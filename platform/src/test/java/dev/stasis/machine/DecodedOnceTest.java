package dev.stasis.machine;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmConfigSection;
import java.util.List;
import org.junit.jupiter.api.Test;

class DecodedOnceTest {
    /** Sections from records, counting the decodes. */
    private static final class Counting implements StateSource {
        final SectionRecords records = new SectionRecords();
        int decodes;

        @Override
        public <S> S section(StateDescription<S> description, int instance) {
            decodes++;
            return records.section(description, instance);
        }

        @Override
        public List<SectionRecords.Key> keys() {
            return records.keys();
        }

        @Override
        public boolean optional(SectionRecords.Key key) {
            return records.optional(key);
        }
    }

    @Test
    void eachSectionIsDecodedOnceAndWrappingTwiceAddsNothing() {
        Counting source = new Counting();
        VmConfig one = VmConfig.of(64 << 20, 1), two = VmConfig.of(128 << 20, 2);
        source.records.section(VmConfigSection.DESCRIPTION, 0, one);
        source.records.section(VmConfigSection.DESCRIPTION, 1, two);

        StateSource once = StateSource.decodedOnce(source);
        assertSame(once, StateSource.decodedOnce(once));
        VmConfig first = once.section(VmConfigSection.DESCRIPTION, 0);
        assertEquals(one, first);
        assertSame(first, once.section(VmConfigSection.DESCRIPTION, 0));
        assertEquals(two, once.section(VmConfigSection.DESCRIPTION, 1), "instances are apart");
        assertEquals(2, source.decodes);
        assertEquals(source.keys(), once.keys());
    }
}
