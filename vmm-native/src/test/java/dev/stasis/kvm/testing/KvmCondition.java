package dev.stasis.kvm.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Skips only where /dev/kvm is absent; a present but unusable /dev/kvm makes the test fail, not skip. */
public final class KvmCondition implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        return Files.exists(Path.of("/dev/kvm"))
                ? ConditionEvaluationResult.enabled("/dev/kvm is present")
                : ConditionEvaluationResult.disabled("/dev/kvm is absent on this host: KVM tests cannot run here");
    }
}
