package dev.stasis.snapshot.state;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;

/**
 * The one declaration of a piece of state (QEMU's VMStateDescription, with typed getters instead of
 * offsets): its section name, current version, the oldest version it still reads, and its fields in
 * order, each with the version it arrived in and the default that older files get.
 *
 * <pre>{@code
 * static final StateDescription<UartState> UART = StateDescription.of("uart", UartState.class, 2)
 *         .minVersion(1)
 *         .u16("divisor", UartState::divisor)
 *         .u8("ier", UartState::ier)
 *         .bytes("rx_fifo", UartState::rxFifo)
 *         .u8("trigger", UartState::trigger).since(2, 1L)
 *         .build(r -> new UartState(r.getInt("divisor"), r.getInt("ier"), r.getBytes("rx_fifo"), r.getInt("trigger")));
 * }</pre>
 *
 * <p>Saving turns a state object into a {@link StateRecord} by the getters; loading takes a record decoded
 * by the file's own schema (any version from {@link #minVersion} to {@link #version}), gives fields that
 * arrived later their defaults, checks every type and range, and calls the constructor.
 *
 * <p>{@code S} must be immutable (a record copying its arrays in and out): a reader of a file it has seen before
 * hands every restore the state it decoded the first time.
 */
public final class StateDescription<S> {
    private final String name;
    private final Class<S> type;
    private final int version;
    private final int minVersion;
    private final boolean optional;
    private final List<Field<S>> fields;
    private final StructSchema schema;
    private final Function<StateRecord, S> constructor;

    private record Field<S>(FieldSchema schema, Function<S, Object> getter, Object defaultValue, StateDescription<?> nested) {}

    private StateDescription(Builder<S> b, Function<StateRecord, S> constructor) {
        this.name = b.name;
        this.type = b.type;
        this.version = b.version;
        this.minVersion = b.minVersion;
        this.optional = b.optional;
        this.fields = List.copyOf(b.fields);
        this.schema = new StructSchema(fields.stream().map(Field::schema).toList());
        this.constructor = constructor;
    }

    public static <S> Builder<S> of(String name, Class<S> type, int version) {
        return new Builder<>(name, type, version);
    }

    public String name() { return name; }
    public Class<S> type() { return type; }
    public int version() { return version; }
    public int minVersion() { return minVersion; }
    /** Whether a reader that does not know this section may skip it (QEMU's optional subsections). */
    public boolean optional() { return optional; }
    public StructSchema schema() { return schema; }

    /** The state as a record, by the getters. */
    public StateRecord save(S state) {
        StateRecord.Builder b = StateRecord.builder();
        for (Field<S> f : fields) {
            b.put(f.schema().name(), encode(f, f.getter().apply(state)));
        }
        return b.build();
    }

    @SuppressWarnings("unchecked")
    private Object encode(Field<S> f, Object value) {
        FieldSchema fs = f.schema();
        Objects.requireNonNull(value, () -> name + "." + fs.name() + " is null");
        return switch (fs.type()) {
            case STRUCT -> ((StateDescription<Object>) f.nested()).save(value);
            case LIST -> ((List<Object>) value).stream().map(e -> ((StateDescription<Object>) f.nested()).save(e)).toList();
            default -> {
                if (fs.type().isInteger() && !fs.type().fits((Long) value)) {
                    throw new IllegalArgumentException(name + "." + fs.name() + " = " + value + " does not fit " + fs.type());
                }
                yield value;
            }
        };
    }

    /**
     * Builds the state from a record written at {@code recordVersion}.
     *
     * @throws StateException naming this section and the field, when the version is not one this build
     *                        reads, a field is missing or mistyped, or the state's own checks refuse it
     */
    public S load(StateRecord record, int recordVersion) {
        checkVersion(recordVersion);
        StateRecord normalized = normalize(record, recordVersion, name);
        try {
            return constructor.apply(normalized);
        } catch (StateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new StateException(name + " v" + recordVersion + ": " + e.getMessage(), e);
        }
    }

    private void checkVersion(int recordVersion) {
        if (recordVersion > version) {
            throw new StateException(String.format("section %s: version %d was written by a newer stasis; this build reads versions %d to %d",
                    name, recordVersion, minVersion, version));
        }
        if (recordVersion < minVersion) {
            throw new StateException(String.format("section %s: version %d is older than this build reads (versions %d to %d)",
                    name, recordVersion, minVersion, version));
        }
    }

    private StateRecord normalize(StateRecord record, int recordVersion, Object path) {
        StateRecord.Builder out = StateRecord.builder();
        for (Field<S> f : fields) {
            FieldSchema fs = f.schema();
            Where where = Where.field(path, fs.name()); // spelled out only for a message
            if (!record.has(fs.name())) {
                if (fs.since() > recordVersion) {
                    out.put(fs.name(), f.defaultValue());
                    continue;
                }
                throw new StateException(where + " is missing (section version " + recordVersion + ")");
            }
            out.put(fs.name(), check(f, record.get(fs.name()), recordVersion, where));
        }
        return out.build();
    }

    @SuppressWarnings("unchecked")
    private Object check(Field<S> f, Object value, int recordVersion, Where where) {
        FieldType t = f.schema().type();
        if (t.isInteger()) {
            if (!(value instanceof Long l)) {
                throw new StateException(where + " should be " + t + ", is " + kind(value));
            }
            if (!t.fits(l)) {
                throw new StateException(where + " = " + l + " is out of range for " + t);
            }
            return value;
        }
        switch (t) {
            case BOOL -> require(value instanceof Boolean, where, t, value);
            case BYTES -> require(value instanceof byte[], where, t, value);
            case STRING -> require(value instanceof String, where, t, value);
            case LONGS -> require(value instanceof long[], where, t, value);
            case STRUCT -> {
                require(value instanceof StateRecord, where, t, value);
                return ((StateDescription<Object>) f.nested()).normalizeNested((StateRecord) value, recordVersion, where);
            }
            case LIST -> {
                require(value instanceof List, where, t, value);
                List<StateRecord> out = new ArrayList<>();
                int i = 0;
                for (Object e : (List<?>) value) {
                    Where at = Where.element(where, i++);
                    require(e instanceof StateRecord, at, FieldType.STRUCT, e);
                    out.add(((StateDescription<Object>) f.nested()).normalizeNested((StateRecord) e, recordVersion, at));
                }
                return List.copyOf(out);
            }
            default -> throw new AssertionError(t);
        }
        return value;
    }

    private StateRecord normalizeNested(StateRecord record, int recordVersion, Object path) {
        return normalize(record, recordVersion, path);
    }

    /** Builds the nested state object of a normalized nested record (for constructors of enclosing states). */
    public S fromNormalized(StateRecord record) {
        return constructor.apply(record);
    }

    private static void require(boolean ok, Where where, FieldType t, Object value) {
        if (!ok) {
            throw new StateException(where + " should be " + t + ", is " + kind(value));
        }
    }

    private static String kind(Object value) {
        return value instanceof List ? "LIST" : value instanceof StateRecord ? "STRUCT" : value.getClass().getSimpleName();
    }

    @Override
    public String toString() {
        return name + " v" + version + " (reads v" + minVersion + "+)";
    }

    /** Declares fields in order; {@link #since} amends the field declared last. */
    public static final class Builder<S> {
        private final String name;
        private final Class<S> type;
        private final int version;
        private int minVersion = 1;
        private boolean optional;
        private final List<Field<S>> fields = new ArrayList<>();

        private Builder(String name, Class<S> type, int version) {
            if (version < 1) {
                throw new IllegalArgumentException(name + ": version must be >= 1");
            }
            this.name = name;
            this.type = type;
            this.version = version;
        }

        /**
         * Marks the section optional: state that matters only when present, which a reader that does not know
         * the section may skip. Every other unknown section is refused by a restore, never dropped.
         */
        public Builder<S> optional() {
            this.optional = true;
            return this;
        }

        public Builder<S> minVersion(int v) {
            if (v < 1 || v > version) {
                throw new IllegalArgumentException(name + ": minVersion must be 1.." + version);
            }
            this.minVersion = v;
            return this;
        }

        public Builder<S> bool(String field, Predicate<S> getter) { return add(field, FieldType.BOOL, getter::test, null); }
        public Builder<S> u8(String field, ToLongFunction<S> getter) { return integer(field, FieldType.U8, getter); }
        public Builder<S> u16(String field, ToLongFunction<S> getter) { return integer(field, FieldType.U16, getter); }
        public Builder<S> u32(String field, ToLongFunction<S> getter) { return integer(field, FieldType.U32, getter); }
        public Builder<S> u64(String field, ToLongFunction<S> getter) { return integer(field, FieldType.U64, getter); }
        public Builder<S> i32(String field, ToLongFunction<S> getter) { return integer(field, FieldType.I32, getter); }
        public Builder<S> i64(String field, ToLongFunction<S> getter) { return integer(field, FieldType.I64, getter); }
        public Builder<S> bytes(String field, Function<S, byte[]> getter) { return add(field, FieldType.BYTES, getter::apply, null); }
        public Builder<S> string(String field, Function<S, String> getter) { return add(field, FieldType.STRING, getter::apply, null); }
        public Builder<S> longs(String field, Function<S, long[]> getter) { return add(field, FieldType.LONGS, getter::apply, null); }

        public <T> Builder<S> struct(String field, StateDescription<T> nested, Function<S, T> getter) {
            return add(field, FieldType.STRUCT, getter::apply, nested);
        }

        public <T> Builder<S> list(String field, StateDescription<T> element, Function<S, List<T>> getter) {
            return add(field, FieldType.LIST, getter::apply, element);
        }

        /** The field declared last arrived in {@code version}; records of older versions get {@code defaultValue}. */
        public Builder<S> since(int version, Object defaultValue) {
            if (fields.isEmpty()) {
                throw new IllegalStateException(name + ": since() before any field");
            }
            Field<S> last = fields.remove(fields.size() - 1);
            if (version < 2 || version > this.version) {
                throw new IllegalArgumentException(name + "." + last.schema().name() + ": since must be 2.." + this.version);
            }
            FieldSchema fs = last.schema();
            fields.add(new Field<>(new FieldSchema(fs.name(), fs.type(), version, fs.element()), last.getter(),
                    Objects.requireNonNull(defaultValue, "default"), last.nested()));
            return this;
        }

        private Builder<S> integer(String field, FieldType t, ToLongFunction<S> getter) {
            return add(field, t, s -> getter.applyAsLong(s), null);
        }

        private Builder<S> add(String field, FieldType t, Function<S, Object> getter, StateDescription<?> nested) {
            if (fields.stream().anyMatch(f -> f.schema().name().equals(field))) {
                throw new IllegalArgumentException(name + ": field '" + field + "' declared twice");
            }
            fields.add(new Field<>(new FieldSchema(field, t, 1, nested == null ? null : nested.schema()), getter, null, nested));
            return this;
        }

        public StateDescription<S> build(Function<StateRecord, S> constructor) {
            return new StateDescription<>(this, constructor);
        }
    }
}
