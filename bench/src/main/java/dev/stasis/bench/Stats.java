package dev.stasis.bench;

import java.util.ArrayList;
import java.util.List;

/** How the command-line benchmarks summarize rounds: the median, then the range. */
final class Stats {
    private Stats() {}

    static String summary(List<Double> v) {
        return String.format("%.1f [%.1f-%.1f]", median(v), v.stream().mapToDouble(d -> d).min().orElse(0), v.stream().mapToDouble(d -> d).max().orElse(0));
    }

    /** The value {@code p} percent of the others are at or below (nearest rank). */
    static double percentile(List<Double> v, double p) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        return s.get(Math.max(0, (int) Math.ceil(p / 100 * s.size()) - 1));
    }

    /** The middle value; for an even count, the mean of the two middle ones. */
    static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
