package dev.stasis.junit;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Gives {@link StasisGuest} fields and parameters their clones, and takes them away: an instance field or a parameter
 * gets a fresh clone before each test, closed after it; a static field with {@code scope = PER_CLASS} one clone for
 * the class, closed after its last test. When a test fails, every clone it used is snapshotted first (paused, written
 * to {@code target/stasis-evidence/<class>.<method>-<clone>.stasis}, or under {@code -Dstasis.evidence.dir}), and the
 * failure names the file and shows the console's tail: the guest as the test left it, for {@code stasis core}, {@code
 * mem} or {@code diff} against the golden image.
 */
public final class StasisExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback,
        ParameterResolver, TestExecutionExceptionHandler, ExecutionCondition {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(StasisExtension.class);

    /** The clones a context made, closed when it ends. */
    private static final class Clones implements ExtensionContext.Store.CloseableResource {
        final List<GuestClone> list = new ArrayList<>();

        @Override
        public synchronized void close() {
            list.forEach(GuestClone::close);
            list.clear();
        }
    }

    /** The clones of this very context (keyed by its id: a child's store also sees its parent's values). */
    private static Clones clones(ExtensionContext context) {
        return context.getStore(NS).getOrComputeIfAbsent(context.getUniqueId(), k -> new Clones(), Clones.class);
    }

    private static GuestClone clone(StasisGuest spec, ExtensionContext context) throws IOException {
        Path golden = Path.of(spec.golden()).toAbsolutePath().normalize();
        GuestClone c = spec.pool() > 0 ? ClonePool.of(golden, spec.pool(), spec.identityAt()).take()
                : GuestClone.of(golden, GuestClone.nextNumber(golden), spec.identityAt());
        synchronized (clones(context)) {
            clones(context).list.add(c);
        }
        return c;
    }

    /**
     * Skips, saying why, only where there is no {@code /dev/kvm} (a build host without KVM); where it exists the tests
     * run, and one that cannot get a clone fails saying why.
     */
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        return Files.exists(Path.of("/dev/kvm")) ? ConditionEvaluationResult.enabled("/dev/kvm is present")
                : ConditionEvaluationResult.disabled("/dev/kvm is absent on this host: stasis clones need KVM");
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        for (Field f : fields(context.getRequiredTestClass())) {
            StasisGuest spec = f.getAnnotation(StasisGuest.class);
            if (Modifier.isStatic(f.getModifiers())) {
                if (spec.scope() != StasisGuest.Scope.PER_CLASS) {
                    throw new IllegalStateException("@StasisGuest on static field " + f.getName() + ": a static field holds one clone for the class;"
                            + " say scope = PER_CLASS");
                }
                f.setAccessible(true);
                f.set(null, clone(spec, context));
            }
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        Object instance = context.getRequiredTestInstance();
        for (Field f : fields(context.getRequiredTestClass())) {
            StasisGuest spec = f.getAnnotation(StasisGuest.class);
            if (!Modifier.isStatic(f.getModifiers())) {
                if (spec.scope() == StasisGuest.Scope.PER_CLASS) {
                    throw new IllegalStateException("@StasisGuest(scope = PER_CLASS) on instance field " + f.getName() + ": make it static");
                }
                f.setAccessible(true);
                f.set(instance, clone(spec, context));
            }
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        clones(context).close();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        clones(context).close();
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.isAnnotated(StasisGuest.class) && parameter.getParameter().getType() == GuestClone.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        try {
            return clone(parameter.findAnnotation(StasisGuest.class).orElseThrow(), context);
        } catch (IOException e) {
            throw new ParameterResolutionException("a clone of " + parameter.findAnnotation(StasisGuest.class).orElseThrow().golden()
                    + " could not be made: " + e.getMessage(), e);
        }
    }

    /** A failed test: its clones snapshotted, the failure naming each file, with the console's tail. */
    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        List<GuestClone> used = new ArrayList<>(clones(context).list);
        context.getParent().ifPresent(p -> {
            if (p.getTestClass().isPresent()) {
                used.addAll(clones(p).list);
            }
        });
        if (used.isEmpty()) {
            throw failure;
        }
        StringBuilder evidence = new StringBuilder(String.valueOf(failure.getMessage()));
        Path dir = Path.of(System.getProperty("stasis.evidence.dir", "target/stasis-evidence"));
        for (GuestClone c : used) {
            String image = c.golden().getFileName().toString().replaceFirst("\\.[^.]*$", "");
            Path file = dir.resolve(context.getRequiredTestClass().getSimpleName() + "." + context.getRequiredTestMethod().getName()
                    + "-" + image + "-" + c.number() + ".stasis").toAbsolutePath();
            try {
                Files.createDirectories(dir);
                c.snapshot(file);
                c.machine().vm().resumeAll(); // a class's clone goes on for the class's next tests
                evidence.append("\n[stasis] clone ").append(c.number()).append(" of ").append(c.golden()).append(" saved to ").append(file);
            } catch (IOException | RuntimeException e) {
                evidence.append("\n[stasis] clone ").append(c.number()).append(" could not be saved: ").append(e.getMessage());
            }
            evidence.append("\n[stasis] its console, last lines:\n").append(c.tail(20));
        }
        AssertionError withEvidence = new AssertionError(evidence.toString(), failure);
        withEvidence.setStackTrace(failure.getStackTrace());
        throw withEvidence;
    }

    private static List<Field> fields(Class<?> type) {
        List<Field> out = new ArrayList<>();
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (f.isAnnotationPresent(StasisGuest.class)) {
                    if (f.getType() != GuestClone.class) {
                        throw new IllegalStateException("@StasisGuest on field " + f.getName() + " of type " + f.getType().getSimpleName()
                                + ": the field must be a GuestClone");
                    }
                    out.add(f);
                }
            }
        }
        return out;
    }
}
