package dev.stasis.cli;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** {@code stasis} (or any program) run to completion in a child process, as a user runs it. */
public record CliProcess(int status, String out, String err) {
    /** {@code stasis args...} in a child JVM on this test's class path, with extra JVM options. */
    public static CliProcess run(List<String> jvmOptions, String... args) throws IOException, InterruptedException {
        return runIn(null, jvmOptions, args);
    }

    /** As {@link #run}, in working directory {@code workDir} (null: this process's). */
    public static CliProcess runIn(Path workDir, List<String> jvmOptions, String... args) throws IOException, InterruptedException {
        return exec(workDir, javaCommand(System.getProperty("java.class.path"), jvmOptions, args));
    }

    /** The command line of a JVM running {@code stasis args...} on {@code classPath}, with {@code jvmOptions}. */
    public static List<String> javaCommand(String classPath, List<String> jvmOptions, String... args) {
        List<String> command = new ArrayList<>();
        command.add(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(classPath);
        command.add(Stasis.class.getName());
        command.addAll(List.of(args));
        return command;
    }

    /** Any program, to completion (two minutes at most). */
    public static CliProcess exec(Path workDir, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder b = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.PIPE);
        if (workDir != null) {
            b.directory(workDir.toFile());
        }
        Process p = b.start();
        p.getOutputStream().close();
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish in 120 s");
        }
        return new CliProcess(p.exitValue(), out.join(), err.join());
    }

    private static CompletableFuture<String> drain(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                in.transferTo(b);
                return b.toString(StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "<" + e + ">";
            }
        });
    }
}
