package dev.stasis.arch.x86.cpu;

/**
 * A named CPU a guest can be given ({@code --cpu-model NAME}). Built-in models are in {@link CpuModels};
 * custom ones come from a JSON file ({@link CustomModelFile}). Resolving a model on a host gives the
 * {@link GuestCpu} that travels with the guest; whether the host can present it is checked separately
 * ({@link CpuCompatibility}), so a model can be judged against recorded hosts without KVM.
 */
public interface CpuModel {
    String name();

    /** One line for {@code stasis cpu models}. */
    String description();

    /** True when the model does not depend on the host it is resolved on. */
    boolean portable();

    GuestCpu resolve(HostCpu host);
}
