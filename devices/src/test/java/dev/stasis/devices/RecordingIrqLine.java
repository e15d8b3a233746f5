package dev.stasis.devices;

import java.util.ArrayList;
import java.util.List;

/** An {@link IrqLine} that remembers every level driven onto it, in order. */
public final class RecordingIrqLine implements IrqLine {
    private final List<Boolean> levels = new ArrayList<>();

    @Override
    public synchronized void set(boolean level) {
        levels.add(level);
    }

    public synchronized List<Boolean> levels() {
        return List.copyOf(levels);
    }

    /** The current level: the last one driven, low if none was. */
    public synchronized boolean level() {
        return !levels.isEmpty() && levels.get(levels.size() - 1);
    }

    public synchronized void clear() {
        levels.clear();
    }
}
