package dev.stasis.kvm.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Marks a test that runs a real guest on {@code /dev/kvm}. It is skipped, with the reason, only where
 * {@code /dev/kvm} does not exist; where it exists the test runs and fails if KVM cannot be used.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(KvmCondition.class)
public @interface RequiresKvm {}
