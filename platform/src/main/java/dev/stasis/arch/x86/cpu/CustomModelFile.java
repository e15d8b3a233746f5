package dev.stasis.arch.x86.cpu;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A custom CPU model from a JSON file ({@code --cpu-model ./mycpu.json}; docs/cpu-models.md):
 * <pre>
 * {
 *   "name": "web-tier",
 *   "base": "x86-64-v3",
 *   "add": ["aes", "pclmulqdq"],
 *   "remove": ["fma"],
 *   "cpuid": [{"leaf": "0x7", "subleaf": 0, "register": "ebx", "bits": "xxxxxxxx_xxxxxxxx_xxxxxxxx_xx1xxxxx"}],
 *   "msrs": [{"index": "0x1a0", "value": "0x1"}],
 *   "pmu": false
 * }
 * </pre>
 * {@code bits} is bit 31 first: {@code 1} sets, {@code 0} clears, {@code x} keeps the base model's bit,
 * {@code h} passes this host's bit through (which makes the model not portable); underscores are ignored.
 * Every error names the file, the line and the field.
 */
public final class CustomModelFile {
    private CustomModelFile() {}

    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    private static final Pattern BITS = Pattern.compile("[01xh]{32}");

    /** One register modifier: bits to set, to clear, and to take from the host; the rest stay as the base has them. */
    record Modifier(FeatureWord word, int set, int clear, int host) {}

    record Model(String name, CpuModel base, Set<CpuFeature> add, Set<CpuFeature> remove, List<Modifier> modifiers,
                 Map<Integer, Long> msrs, boolean pmu, String source) implements CpuModel {
        @Override
        public String description() {
            return "custom model from " + source + " (base " + base.name() + ")";
        }

        @Override
        public boolean portable() {
            return base.portable() && modifiers.stream().allMatch(m -> m.host() == 0);
        }

        @Override
        public GuestCpu resolve(HostCpu host) {
            FeatureSet f = base.resolve(host).features().with(add).without(remove);
            for (Modifier m : modifiers) {
                int v = (f.get(m.word()) | m.set()) & ~m.clear();
                if (m.host() != 0) {
                    v = (v & ~m.host()) | (host.supportedFeatures().get(m.word()) & m.host());
                }
                f = f.withWord(m.word(), v);
            }
            List<String> unmet = f.unmetRequirements();
            if (!unmet.isEmpty()) {
                throw new IllegalArgumentException(source + ": the model contradicts itself: " + String.join(", ", unmet));
            }
            return new GuestCpu(name, portable(), f, msrs, pmu, Set.of());
        }
    }

    public static CpuModel parse(Path file) throws IOException {
        String src = file.toString();
        try (JsonParser p = new JsonFactory().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).createParser(file.toFile())) {
            Reader r = new Reader(p, src);
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw r.error("a CPU model file is one JSON object");
            }
            String name = null;
            CpuModel base = null;
            Set<CpuFeature> add = EnumSet.noneOf(CpuFeature.class), remove = EnumSet.noneOf(CpuFeature.class);
            List<Modifier> modifiers = new ArrayList<>();
            Map<Integer, Long> msrs = new LinkedHashMap<>();
            boolean pmu = false;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                switch (field) {
                    case "name" -> {
                        name = r.string(field);
                        if (!NAME.matcher(name).matches() || CpuModels.builtIn(name) != null) {
                            throw r.error("\"name\": '" + name + "' must be lower-case letters, digits, '.', '_' or '-', and not a built-in model's name");
                        }
                    }
                    case "base" -> {
                        String b = r.string(field);
                        base = CpuModels.builtIn(b);
                        if (base == null) {
                            throw r.error("\"base\": unknown model '" + b + "'; built-in: "
                                    + String.join(", ", CpuModels.BUILT_IN.stream().map(CpuModel::name).toList()));
                        }
                    }
                    case "add" -> add.addAll(r.features(field));
                    case "remove" -> remove.addAll(r.features(field));
                    case "cpuid" -> modifiers.addAll(r.modifiers());
                    case "msrs" -> msrs.putAll(r.msrs());
                    case "pmu" -> pmu = r.bool(field);
                    default -> throw r.error("unknown field \"" + field + "\" (known: name, base, add, remove, cpuid, msrs, pmu)");
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw r.error("text after the model's object");
            }
            if (name == null || base == null) {
                throw new IllegalArgumentException(src + ": a CPU model needs \"name\" and \"base\"");
            }
            Set<CpuFeature> both = EnumSet.copyOf(add); // add is an EnumSet: copyOf takes it even when empty
            both.retainAll(remove);
            if (!both.isEmpty()) {
                throw new IllegalArgumentException(src + ": " + both.iterator().next().key() + " is both in \"add\" and in \"remove\"");
            }
            Model m = new Model(name, base, add, remove, modifiers, msrs, pmu, src);
            if (m.portable()) {
                m.resolve(null); // host-independent: contradictions are found now, not at boot
            }
            return m;
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(src + ": line " + e.getLocation().getLineNr() + ": not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** Typed reads of the current value, each error with file and line. */
    private record Reader(JsonParser p, String src) {
        IllegalArgumentException error(String message) {
            return new IllegalArgumentException(src + ": line " + p.currentLocation().getLineNr() + ": " + message);
        }

        String string(String field) throws IOException {
            if (p.currentToken() != JsonToken.VALUE_STRING) {
                throw error("\"" + field + "\" must be a string");
            }
            return p.getText();
        }

        boolean bool(String field) throws IOException {
            if (!p.currentToken().isBoolean()) {
                throw error("\"" + field + "\" must be true or false");
            }
            return p.getBooleanValue();
        }

        /** A number, or a string of a decimal or 0x-hex number, in [0, max]. */
        long number(String field, long max) throws IOException {
            String text;
            if (p.currentToken() == JsonToken.VALUE_NUMBER_INT) {
                text = p.getText();
            } else if (p.currentToken() == JsonToken.VALUE_STRING) {
                text = p.getText().trim();
            } else {
                throw error("\"" + field + "\" must be a number (decimal, or \"0x...\" hex)");
            }
            try {
                long v = text.startsWith("0x") || text.startsWith("0X") ? Long.parseUnsignedLong(text.substring(2), 16) : Long.parseUnsignedLong(text);
                if (Long.compareUnsigned(v, max) > 0) {
                    throw error(String.format("\"%s\": %s is out of range (at most 0x%x)", field, text, max));
                }
                return v;
            } catch (NumberFormatException e) {
                throw error("\"" + field + "\": '" + text + "' is not a number (decimal, or 0x... hex)");
            }
        }

        List<CpuFeature> features(String field) throws IOException {
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw error("\"" + field + "\" must be a list of feature names");
            }
            List<CpuFeature> out = new ArrayList<>();
            while (p.nextToken() != JsonToken.END_ARRAY) {
                String n = string(field);
                try {
                    out.add(CpuFeature.parse(n));
                } catch (IllegalArgumentException e) {
                    throw error("\"" + field + "\": " + e.getMessage());
                }
            }
            return out;
        }

        List<Modifier> modifiers() throws IOException {
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw error("\"cpuid\" must be a list of {leaf, subleaf, register, bits}");
            }
            List<Modifier> out = new ArrayList<>();
            while (p.nextToken() == JsonToken.START_OBJECT) {
                int line = p.currentLocation().getLineNr();
                Long leaf = null, subleaf = 0L;
                FeatureWord.Register register = null;
                String bits = null;
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String f = p.currentName();
                    p.nextToken();
                    switch (f) {
                        case "leaf" -> leaf = number("leaf", 0xffffffffL);
                        case "subleaf" -> subleaf = number("subleaf", 0xffffffffL);
                        case "register" -> {
                            try {
                                register = FeatureWord.Register.parse(string(f));
                            } catch (IllegalArgumentException e) {
                                throw error("\"register\": " + e.getMessage());
                            }
                        }
                        case "bits" -> {
                            bits = string(f).replace("_", "");
                            if (!BITS.matcher(bits).matches()) {
                                throw error("\"bits\" must be 32 of 0, 1, x (keep) or h (this host's), bit 31 first");
                            }
                        }
                        default -> throw error("unknown field \"" + f + "\" in a cpuid modifier (known: leaf, subleaf, register, bits)");
                    }
                }
                if (leaf == null || register == null || bits == null) {
                    throw new IllegalArgumentException(src + ": line " + line + ": a cpuid modifier needs \"leaf\", \"register\" and \"bits\"");
                }
                FeatureWord word;
                try {
                    word = FeatureWord.find(leaf.intValue(), subleaf.intValue(), register);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(src + ": line " + line + ": \"leaf\": " + e.getMessage());
                }
                int set = 0, clear = 0, host = 0;
                for (int i = 0; i < 32; i++) {
                    int bit = 1 << (31 - i);
                    switch (bits.charAt(i)) {
                        case '1' -> set |= bit;
                        case '0' -> clear |= bit;
                        case 'h' -> host |= bit;
                        default -> { }
                    }
                }
                int notFeature = (set | host) & word.notFeatures();
                if (notFeature != 0) {
                    throw new IllegalArgumentException(src + ": line " + line + ": \"bits\": bit " + Integer.numberOfTrailingZeros(notFeature)
                            + " of " + word.label() + " is not a feature (the VMM or the guest's own state sets it)");
                }
                out.add(new Modifier(word, set, clear, host));
            }
            if (p.currentToken() != JsonToken.END_ARRAY) {
                throw error("\"cpuid\" must be a list of objects");
            }
            return out;
        }

        Map<Integer, Long> msrs() throws IOException {
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw error("\"msrs\" must be a list of {index, value}");
            }
            Map<Integer, Long> out = new LinkedHashMap<>();
            while (p.nextToken() == JsonToken.START_OBJECT) {
                int line = p.currentLocation().getLineNr();
                Long index = null, value = null;
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String f = p.currentName();
                    p.nextToken();
                    switch (f) {
                        case "index" -> index = number("index", 0xffffffffL);
                        case "value" -> value = number("value", -1L);
                        default -> throw error("unknown field \"" + f + "\" in an MSR (known: index, value)");
                    }
                }
                if (index == null || value == null) {
                    throw new IllegalArgumentException(src + ": line " + line + ": an MSR needs \"index\" and \"value\"");
                }
                int i = index.intValue();
                if (i == MsrPolicy.IA32_TSC || i == MsrPolicy.IA32_TSC_DEADLINE || i == MsrPolicy.IA32_TSC_ADJUST) {
                    throw new IllegalArgumentException(src + ": line " + line + ": \"index\": " + MsrPolicy.describe(i)
                            + " is the guest's clock and cannot be preset");
                }
                if (out.put(i, value) != null) {
                    throw new IllegalArgumentException(src + ": line " + line + ": " + MsrPolicy.describe(i) + " is listed twice");
                }
            }
            if (p.currentToken() != JsonToken.END_ARRAY) {
                throw error("\"msrs\" must be a list of objects");
            }
            return out;
        }
    }
}
