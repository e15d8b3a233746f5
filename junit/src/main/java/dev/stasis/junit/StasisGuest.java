package dev.stasis.junit;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A fresh clone of a golden snapshot for a test: on a {@link GuestClone} field (instance: one per test; static: one
 * per class, see {@link #scope}) or test method parameter of a class extended with {@link StasisExtension}.
 *
 * <pre>
 * &#64;ExtendWith(StasisExtension.class)
 * class AgentTest {
 *     &#64;StasisGuest(golden = "src/test/resources/app.golden")
 *     GuestClone guest;
 *
 *     &#64;Test
 *     void answers() throws Exception {
 *         guest.type("ping\n");
 *         guest.awaitLine("pong", Duration.ofSeconds(5));
 *     }
 * }
 * </pre>
 */
@Target({ElementType.FIELD, ElementType.PARAMETER})
@Retention(RetentionPolicy.RUNTIME)
public @interface StasisGuest {
    /** The golden snapshot file, relative to the working directory (a Maven module's directory under surefire). */
    String golden();

    /**
     * Where in guest RAM the clone's identity is written before it resumes, so a guest that caches randomness or
     * identity can tell clones apart and reseed: the clone's number (u64, little-endian) and then a fresh random
     * generation ID (16 bytes), 24 bytes in all. -1 (the default): nowhere; the guest must leave that RAM to it.
     */
    long identityAt() default -1;

    /**
     * Clones made ahead, paused, for this golden image (0: none, each clone restored when asked for): a test's clone is
     * then handed over by resuming its vCPUs, and the pool makes the next one meanwhile. Pooled clones of one image
     * share one pool, the largest size asked for; they end with the JVM. A pooled clone's guest clock has run on while
     * it waited (as a paused VM's does).
     */
    int pool() default 0;

    /** One clone per test method (the default) or one for the whole class (a static field). */
    Scope scope() default Scope.PER_TEST;

    enum Scope { PER_TEST, PER_CLASS }
}
