package dev.stasis.control;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One command of the control socket: its name, the keys its request may carry, and whether it changes the
 * VM (pause, resume, snapshot, migrate, stop). Those run one at a time, under {@link CommandOwner}; the
 * others (status) answer at once, even while one of them runs.
 */
public record Command(String name, RequestSchema schema, boolean changesVm, Handler handler) {
    /** Takes the validated request, returns the result object (or throws with a one-line message). */
    public interface Handler {
        ObjectNode handle(Request request) throws Exception;
    }

    public static Command reading(String name, RequestSchema schema, Handler handler) {
        return new Command(name, schema, false, handler);
    }

    public static Command changing(String name, RequestSchema schema, Handler handler) {
        return new Command(name, schema, true, handler);
    }
}
