package dev.stasis.migrate.protocol;

/**
 * Test seam: told of every message a side sends or receives, in order, on all its connections. A hook
 * that wants to break the link throws {@link java.io.IOException} (the channel closes its socket first),
 * as if the connection broke right after that message.
 */
@FunctionalInterface
public interface FaultHook {
    FaultHook NONE = (sent, type, index) -> { };

    /**
     * @param sent  true for a message this side sent, false for one it received
     * @param type  the message
     * @param index the count of messages seen before this one, over all connections of the session
     */
    void after(boolean sent, MessageType type, int index) throws java.io.IOException;
}
