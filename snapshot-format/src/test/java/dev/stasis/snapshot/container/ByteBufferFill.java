package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;
import java.util.Random;

final class ByteBufferFill {
    private ByteBufferFill() {}

    static void random(ByteBuffer b, Random rnd) {
        byte[] bytes = new byte[b.remaining()];
        rnd.nextBytes(bytes);
        b.put(b.position(), bytes);
    }
}
