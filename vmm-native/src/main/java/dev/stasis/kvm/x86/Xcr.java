package dev.stasis.kvm.x86;

/** {@code struct kvm_xcr}: an extended control register (XCR0 is the only one today). */
public record Xcr(int xcr, long value) {}
