package dev.stasis.forensics.diff;

import dev.stasis.forensics.Values;
import dev.stasis.snapshot.state.FieldSchema;

/**
 * One field that differs between two snapshots: its section ("vcpu#0"), its path inside the record
 * ("regs.rip", "msrs[3].data"), and both values (null where the field exists in one file only).
 */
public record FieldChange(String section, String field, Object a, Object b, FieldSchema schema) {
    public String text() {
        String detail = "";
        if (a instanceof byte[] x && b instanceof byte[] y) {
            int differ = 0;
            int first = -1;
            for (int i = 0; i < Math.min(x.length, y.length); i++) {
                if (x[i] != y[i]) {
                    differ++;
                    first = first < 0 ? i : first;
                }
            }
            detail = " (" + differ + " bytes differ" + (first >= 0 ? ", first at offset " + first : "") + ")";
        }
        return section + " " + field + ": " + Values.text(a, schema) + " -> " + Values.text(b, schema) + detail;
    }
}
