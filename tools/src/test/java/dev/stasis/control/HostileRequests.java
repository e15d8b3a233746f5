package dev.stasis.control;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Control requests that must all be refused, each with one error line and without touching the VM: every
 * way of breaking the request schema (wrong types and ranges, unknown, duplicate and missing keys, text after
 * the object, values that are not objects, broken JSON and UTF-8, deep nesting) and snapshot targets that are
 * not a regular file. Built at random from valid requests by one definite violation each, so none can be
 * valid by chance. Used by {@code HostileControlTest} and the bench's {@code HostileBench}.
 */
public final class HostileRequests {
    private HostileRequests() {}

    /** One request line (no newline) and the violation it carries. */
    public record Bad(String why, byte[] line) {
        public String text() {
            return new String(line, StandardCharsets.UTF_8);
        }
    }

    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    private static final List<String> COMMANDS = List.of("snapshot", "migrate", "pause", "resume", "status", "stop");
    private static final String[] TRAILERS = {" x", "{}", " 1", "]", "{\"command\":\"stop\"}", ",", " \"stop\"", "null"};

    /** A random bad request; snapshot paths, where valid, point into {@code dir}. */
    public static Bad next(Random r, Path dir) {
        String command = COMMANDS.get(r.nextInt(COMMANDS.size()));
        ObjectNode base = base(command, dir, r);
        return switch (r.nextInt(12)) {
            case 0, 1 -> wrongValue(r, base, command);
            case 2 -> {
                String key = randomKey(r);
                base.set(key, randomValue(r));
                yield bad("unknown key " + key, base.toString());
            }
            case 3 -> {
                String json = base.toString();
                String key = r.nextBoolean() ? "command" : base.fieldNames().next();
                String dup = "\"" + key + "\":" + (key.equals("command") ? "\"" + COMMANDS.get(r.nextInt(COMMANDS.size())) + "\"" : base.get(key).toString());
                yield bad("duplicate key " + key, json.substring(0, json.length() - 1) + "," + dup + "}");
            }
            case 4 -> bad("text after the object", base + TRAILERS[r.nextInt(TRAILERS.length)]);
            case 5 -> {
                if (command.equals("snapshot") || command.equals("migrate")) {
                    base.remove(command.equals("snapshot") ? "path" : "to");
                    yield bad("missing required key", base.toString());
                }
                base.remove("command");
                yield bad("no command", base.toString());
            }
            case 6 -> {
                Object[] commands = {1, null, true, List.of(command), "", command.toUpperCase(), command + " ", "dance"};
                Object c = commands[r.nextInt(commands.length)];
                base.set("command", c == null ? N.nullNode() : c instanceof String s ? N.textNode(s) : c instanceof Integer i ? N.numberNode(i)
                        : c instanceof Boolean b ? N.booleanNode(b) : N.arrayNode().add(command));
                yield bad("bad command " + c, base.toString());
            }
            case 7 -> {
                String[] notObjects = {"[]", "\"status\"", "1", "null", "true", "[" + base + "]", "-0.5e3"};
                yield bad("not an object", notObjects[r.nextInt(notObjects.length)]);
            }
            case 8 -> {
                String json = base.toString();
                yield bad("truncated", json.substring(0, 1 + r.nextInt(json.length() - 1)));
            }
            case 9 -> {
                byte[] b = base.toString().getBytes(StandardCharsets.UTF_8);
                int at = 0;
                while (b[at] != ':') {
                    at++;
                }
                at += 2; // inside the string value of "command", always the first key
                byte[] out = Arrays.copyOf(b, b.length + 1);
                System.arraycopy(b, at, out, at + 1, b.length - at);
                out[at] = (byte) (r.nextBoolean() ? 0xff : 0xc0);
                yield new Bad("invalid UTF-8", out);
            }
            case 10 -> {
                int depth = 1001 + r.nextInt(3000);
                yield bad("nested " + depth + " deep", "[".repeat(depth) + "]".repeat(depth));
            }
            default -> {
                if (!command.equals("snapshot")) {
                    byte[] noise = new byte[1 + r.nextInt(200)];
                    r.nextBytes(noise);
                    for (int i = 0; i < noise.length; i++) {
                        if (noise[i] == '\n') {
                            noise[i] = '#';
                        }
                    }
                    noise[0] = '#'; // not blank (a blank line gets no answer), not the start of an object
                    yield new Bad("random bytes", noise);
                }
                String[] targets = {"/", "/dev/null", "/dev/full", dir.toString(), dir.resolve("missing/a.stasis").toString(), "/proc/version"};
                String t = targets[r.nextInt(targets.length)];
                base.put("path", t);
                yield bad("snapshot to " + t, base.toString());
            }
        };
    }

    /** A valid request of {@code command}: what each mutation starts from. */
    static ObjectNode base(String command, Path dir, Random r) {
        ObjectNode o = N.objectNode().put("command", command);
        switch (command) {
            case "snapshot" -> {
                o.put("path", dir.resolve("never-" + r.nextInt(1000) + ".stasis").toString());
                if (r.nextBoolean()) {
                    o.put("level", r.nextInt(20));
                }
            }
            case "migrate" -> o.put("to", "127.0.0.1:9").put("insecure", true);
            default -> { }
        }
        return o;
    }

    /** A declared key of the command given a value of another type or out of its range. */
    private static Bad wrongValue(Random r, ObjectNode base, String command) {
        String[][] fields = switch (command) {
            case "snapshot" -> new String[][] {{"path", "s"}, {"exit", "b"}, {"progress", "b"}, {"level", "i-7:19"}, {"threads", "i1:64"}};
            case "migrate" -> new String[][] {{"to", "s"}, {"psk_file", "s"}, {"insecure", "b"}, {"connections", "i1:16"}, {"downtime_ms", "i0:3600000"}};
            default -> new String[][] {{randomKey(r), "x"}}; // takes no keys: any is unknown
        };
        String[] f = fields[r.nextInt(fields.length)];
        String type = f[1];
        var value = switch (type.charAt(0)) {
            case 's' -> pick(r, N.numberNode(1), N.booleanNode(true), N.nullNode(), N.textNode(""), N.arrayNode().add("a"), N.objectNode());
            case 'b' -> pick(r, N.numberNode(2), N.numberNode(0), N.textNode("yes"), N.textNode("true"), N.nullNode(), N.arrayNode());
            case 'i' -> {
                String[] range = type.substring(1).split(":");
                long min = Long.parseLong(range[0]);
                long max = Long.parseLong(range[1]);
                yield pick(r, N.textNode("x"), N.textNode("4"), N.numberNode(1.9), N.numberNode(1e3), N.numberNode(1L << 33),
                        N.numberNode(min - 1), N.numberNode(max + 1), N.numberNode(BigInteger.TWO.pow(64).add(BigInteger.valueOf(4))),
                        N.booleanNode(true), N.nullNode());
            }
            default -> randomValue(r);
        };
        if (type.startsWith("i") && value.isIntegralNumber() && value.canConvertToLong() && value.longValue() == 1000) {
            value = N.numberNode(1.5); // 1e3 parses as a double, but be sure nothing valid slips through
        }
        base.set(f[0], value);
        return bad(f[0] + " = " + value, base.toString());
    }

    @SafeVarargs
    private static <T> T pick(Random r, T... options) {
        return options[r.nextInt(options.length)];
    }

    private static String randomKey(Random r) {
        String[] keys = {"Path", "exits", "", "command ", "level\u0000", "x".repeat(1 + r.nextInt(60)), "threads2", "\u00e9t\u00e9"};
        return keys[r.nextInt(keys.length)];
    }

    private static com.fasterxml.jackson.databind.JsonNode randomValue(Random r) {
        return pick(r, N.numberNode(r.nextLong()), N.textNode("v"), N.booleanNode(false), N.nullNode(), N.arrayNode(), N.objectNode().put("a", 1));
    }

    private static Bad bad(String why, String line) {
        return new Bad(why, line.getBytes(StandardCharsets.UTF_8));
    }
}
