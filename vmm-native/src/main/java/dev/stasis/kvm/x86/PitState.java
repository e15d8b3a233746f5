package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;
import java.util.List;

/** {@code struct kvm_pit_state2}: the in-kernel i8254's three channels and flags. */
public record PitState(List<PitChannel> channels, int flags) {
    public PitState {
        channels = List.copyOf(channels);
        if (channels.size() != 3) {
            throw new IllegalArgumentException("the PIT has 3 channels, got " + channels.size());
        }
    }

    public static PitState read(Pointer p) {
        return new PitState(List.of(PitChannel.read(p, 0), PitChannel.read(p, PIT_CHANNEL_SIZE), PitChannel.read(p, 2L * PIT_CHANNEL_SIZE)),
                p.getInt(PIT_STATE2_FLAGS));
    }

    public void write(Pointer p) {
        p.setMemory(0, PIT_STATE2_SIZE, (byte) 0);
        for (int i = 0; i < 3; i++) {
            channels.get(i).write(p, (long) i * PIT_CHANNEL_SIZE);
        }
        p.setInt(PIT_STATE2_FLAGS, flags);
    }
}
