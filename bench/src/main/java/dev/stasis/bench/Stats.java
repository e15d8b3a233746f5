package dev.stasis.bench;

import java.util.ArrayList;
import java.util.List;

/** How the command-line benchmarks summarize rounds: the median, then the range. */
final class Stats {
    private Stats() {}

    static String summary(List<Double> v) {
        return String.format("%.1f [%.1f-%.1f]", median(v), v.stream().mapToDouble(d -> d).min().orElse(0), v.stream().mapToDouble(d -> d).max().orElse(0));
    }

    static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        return s.get(s.size() / 2);
    }
}
