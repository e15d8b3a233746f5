package dev.stasis.cli;

import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Sizes as people write them: {@code 1073741824}, {@code 512K}, {@code 64M}, {@code 1G} (binary units). */
final class SizeConverter implements ITypeConverter<Long> {
    @Override
    public Long convert(String text) {
        return parse(text);
    }

    static long parse(String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        // A "B"/"iB" suffix only after a unit or a decimal number: in 0x7B the B is a hex digit.
        if (t.matches(".*[KMGT]I?B")) {
            t = t.substring(0, t.length() - (t.endsWith("IB") ? 2 : 1));
        } else if (t.matches("\\d+B")) {
            t = t.substring(0, t.length() - 1);
        }
        int shift = 0;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'K' -> shift = 10;
                case 'M' -> shift = 20;
                case 'G' -> shift = 30;
                case 'T' -> shift = 40;
                default -> { }
            }
        }
        if (shift != 0) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            long n = Long.decode(t);
            if (n < 0 || (shift > 0 && n > (Long.MAX_VALUE >> shift))) {
                throw new NumberFormatException();
            }
            return n << shift;
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + text + "' is not a size (examples: 64M, 1G, 4096)");
        }
    }
}
