package dev.stasis.golden;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.fixtures.Guests;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * How a golden image was built, kept in its snapshot's manifest (property {@value #PROPERTY}, as JSON): the
 * arguments of {@code stasis run}, the pattern of the console line that meant ready, and the SHA-256 of every
 * input. An input is a file as the command line named it, or a fixture guest, whose image is part of stasis
 * ({@code fixture:NAME}). A changed or vanished input makes the image stale: {@link #changes} says which.
 */
public record GoldenRecipe(List<String> runArguments, String ready, List<Input> inputs) {
    public static final String PROPERTY = "golden";
    private static final ObjectMapper JSON = new ObjectMapper();

    public record Input(String name, String sha256) {}

    public GoldenRecipe {
        runArguments = List.copyOf(runArguments);
        inputs = List.copyOf(inputs);
    }

    /** The recipe for these run arguments, hashing each of {@code inputs} now (fixture names as their images). */
    public static GoldenRecipe of(List<String> runArguments, String ready, List<String> inputs) throws IOException {
        List<Input> hashed = new ArrayList<>();
        for (String name : inputs) {
            hashed.add(new Input(label(name), digest(name)));
        }
        return new GoldenRecipe(runArguments, ready, hashed);
    }

    /** What differs from the build, one line per input that changed or is gone; empty when the image is current. */
    public List<String> changes() throws IOException {
        List<String> out = new ArrayList<>();
        for (Input in : inputs) {
            String name = in.name().startsWith("fixture:") ? in.name().substring("fixture:".length()) : in.name();
            String now;
            try {
                now = in.name().startsWith("fixture:") ? fixtureDigest(name) : fileDigest(Path.of(name));
            } catch (NoSuchFileException | IllegalArgumentException e) {
                out.add(in.name() + " is gone");
                continue;
            }
            if (!now.equals(in.sha256())) {
                out.add(in.name() + " changed since the build (sha256 " + in.sha256().substring(0, 12) + "..., now " + now.substring(0, 12) + "...)");
            }
        }
        return out;
    }

    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode args = o.putArray("run");
        runArguments.forEach(args::add);
        o.put("ready", ready);
        ArrayNode files = o.putArray("inputs");
        for (Input in : inputs) {
            files.addObject().put("name", in.name()).put("sha256", in.sha256());
        }
        return o.toString();
    }

    /** Throws {@link IllegalArgumentException} naming what is wrong with a recipe that is not one. */
    public static GoldenRecipe fromJson(String text) {
        JsonNode o;
        try {
            o = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("its build recipe is not JSON: " + e.getOriginalMessage());
        }
        if (!o.path("run").isArray() || !o.path("ready").isTextual() || !o.path("inputs").isArray()) {
            throw new IllegalArgumentException("its build recipe lacks run, ready or inputs");
        }
        List<String> args = new ArrayList<>();
        o.path("run").forEach(a -> args.add(a.asText()));
        List<Input> inputs = new ArrayList<>();
        for (JsonNode in : o.path("inputs")) {
            if (!in.path("name").isTextual() || !in.path("sha256").asText().matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException("its build recipe has an input without a name or a SHA-256");
            }
            inputs.add(new Input(in.path("name").asText(), in.path("sha256").asText()));
        }
        return new GoldenRecipe(args, o.path("ready").asText(), inputs);
    }

    private static boolean isFixture(String name) {
        return Guests.exists(name) && !Files.exists(Path.of(name));
    }

    /** A fixture as {@code fixture:NAME}; a file by its absolute path, so a check from another directory finds it. */
    private static String label(String name) {
        return isFixture(name) ? "fixture:" + name : Path.of(name).toAbsolutePath().normalize().toString();
    }

    private static String digest(String name) throws IOException {
        return isFixture(name) ? fixtureDigest(name) : fileDigest(Path.of(name));
    }

    private static String fixtureDigest(String name) {
        if (!Guests.exists(name)) {
            throw new IllegalArgumentException("no fixture " + name);
        }
        return HexFormat.of().formatHex(sha256().digest(Guests.flatImage(name)));
    }

    private static String fileDigest(Path file) throws IOException {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                md.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available in this JDK", e);
        }
    }
}
