package dev.stasis.snapshot.state;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * State as named values, independent of any device class: what {@link StateDescription#save} produces,
 * what the file encodes, and what a generic reader decodes without knowing the device. Values are
 * {@code Long} (every integer type), {@code Boolean}, {@code byte[]}, {@code String}, {@code long[]},
 * {@code StateRecord} (struct) or {@code List<StateRecord>} (list). Immutable once built.
 */
public final class StateRecord {
    private final Map<String, Object> values;

    private StateRecord(Map<String, Object> values) {
        this.values = Collections.unmodifiableMap(values);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Field names in order. */
    public Map<String, Object> values() {
        return values;
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    public Object get(String name) {
        Object v = values.get(name);
        if (v == null) {
            throw new StateException("field '" + name + "' is missing");
        }
        return v;
    }

    public long getLong(String name) {
        return as(name, Long.class);
    }

    /** An integer field that must fit an int (U8/U16/I32, or U32 read as its bits). */
    public int getInt(String name) {
        long v = getLong(name);
        if (v < Integer.MIN_VALUE || v > 0xffff_ffffL) {
            throw new StateException("field '" + name + "' = " + v + " does not fit 32 bits");
        }
        return (int) v;
    }

    public boolean getBool(String name) {
        return as(name, Boolean.class);
    }

    public byte[] getBytes(String name) {
        return as(name, byte[].class).clone();
    }

    public String getString(String name) {
        return as(name, String.class);
    }

    public long[] getLongs(String name) {
        return as(name, long[].class).clone();
    }

    public StateRecord getStruct(String name) {
        return as(name, StateRecord.class);
    }

    @SuppressWarnings("unchecked")
    public List<StateRecord> getList(String name) {
        return (List<StateRecord>) as(name, List.class);
    }

    private <T> T as(String name, Class<T> type) {
        Object v = get(name);
        if (!type.isInstance(v)) {
            throw new StateException("field '" + name + "' is " + v.getClass().getSimpleName() + ", expected " + type.getSimpleName());
        }
        return type.cast(v);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof StateRecord other) || other.values.size() != values.size()) {
            return false;
        }
        for (Map.Entry<String, Object> e : values.entrySet()) {
            if (!valueEquals(e.getValue(), other.values.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    private static boolean valueEquals(Object a, Object b) {
        if (a instanceof byte[] x && b instanceof byte[] y) {
            return Arrays.equals(x, y);
        }
        if (a instanceof long[] x && b instanceof long[] y) {
            return Arrays.equals(x, y);
        }
        return Objects.equals(a, b);
    }

    @Override
    public int hashCode() {
        int h = 1;
        for (Map.Entry<String, Object> e : values.entrySet()) {
            Object v = e.getValue();
            int vh = v instanceof byte[] b ? Arrays.hashCode(b) : v instanceof long[] l ? Arrays.hashCode(l) : Objects.hashCode(v);
            h = 31 * h + e.getKey().hashCode() * 17 + vh;
        }
        return h;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("{");
        values.forEach((k, v) -> b.append(b.length() > 1 ? ", " : "").append(k).append('=')
                .append(v instanceof byte[] x ? x.length + " bytes" : v instanceof long[] l ? Arrays.toString(l) : v));
        return b.append('}').toString();
    }

    /** Builds a record; each name once. */
    public static final class Builder {
        private final Map<String, Object> values = new LinkedHashMap<>();

        public Builder put(String name, Object value) {
            Objects.requireNonNull(value, name);
            if (!(value instanceof Long || value instanceof Boolean || value instanceof byte[] || value instanceof String
                    || value instanceof long[] || value instanceof StateRecord || value instanceof List)) {
                throw new IllegalArgumentException("field " + name + ": unsupported value type " + value.getClass().getName());
            }
            if (values.putIfAbsent(name, value) != null) {
                throw new IllegalArgumentException("field '" + name + "' set twice");
            }
            return this;
        }

        public Builder putLong(String name, long value) {
            return put(name, value);
        }

        public Builder putBool(String name, boolean value) {
            return put(name, value);
        }

        public StateRecord build() {
            return new StateRecord(new LinkedHashMap<>(values));
        }
    }
}
