package dev.stasis.snapshot.state;

/**
 * The types a state field can have. Integers of every width travel as {@code long} in a {@link StateRecord};
 * the width says how they are encoded and what range is valid.
 */
public enum FieldType {
    BOOL(0, 1),
    U8(0, 0xffL),
    U16(0, 0xffffL),
    U32(0, 0xffff_ffffL),
    /** 64 bits, unsigned in meaning; stored as a Java long (negative for values above 2^63). */
    U64(Long.MIN_VALUE, Long.MAX_VALUE),
    I32(Integer.MIN_VALUE, Integer.MAX_VALUE),
    I64(Long.MIN_VALUE, Long.MAX_VALUE),
    BYTES(0, 0),
    STRING(0, 0),
    /** An array of 64-bit values. */
    LONGS(0, 0),
    /** A nested record with its own field list. */
    STRUCT(0, 0),
    /** A list of nested records sharing one field list. */
    LIST(0, 0);

    public final long min;
    public final long max;

    FieldType(long min, long max) {
        this.min = min;
        this.max = max;
    }

    public boolean isInteger() {
        return this == U8 || this == U16 || this == U32 || this == U64 || this == I32 || this == I64;
    }

    public boolean isNested() {
        return this == STRUCT || this == LIST;
    }

    /** Whether {@code value} fits this integer type. */
    public boolean fits(long value) {
        return this == U64 || this == I64 || (value >= min && value <= max);
    }
}
