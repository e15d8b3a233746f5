package dev.stasis.machine;

import dev.stasis.snapshot.state.StateDescription;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * An emulated device with one section: its {@code save()} gives a state record, its {@code restore(state)}
 * takes one (Firecracker's persist pattern). Instance 0, {@link Phase#DEVICES}.
 */
public record DevicePart<S>(StateDescription<S> description, Supplier<S> saver, Consumer<S> restorer) implements MachinePart {
    @Override
    public Phase phase() {
        return Phase.DEVICES;
    }

    @Override
    public void save(StateSink sink) {
        sink.section(description, 0, saver.get());
    }

    @Override
    public Apply prepare(StateSource source) {
        S state = source.section(description, 0);
        return () -> {
            restorer.accept(state);
            return List.of();
        };
    }
}
