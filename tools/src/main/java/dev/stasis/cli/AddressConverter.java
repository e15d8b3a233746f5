package dev.stasis.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** A 64-bit address or count: {@code 0x} hex (all 64 bits, e.g. 0xffff800000000000) or decimal. */
final class AddressConverter implements ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        return parse(value);
    }

    static long parse(String value) {
        String v = value.trim().replace("_", "");
        try {
            if (v.startsWith("0x") || v.startsWith("0X")) {
                return Long.parseUnsignedLong(v.substring(2), 16);
            }
            return Long.parseUnsignedLong(v);
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + value + "' is not an address (decimal or 0x hex, up to 64 bits)");
        }
    }
}
