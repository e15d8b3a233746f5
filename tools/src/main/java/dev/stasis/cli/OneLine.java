package dev.stasis.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;

/** A failure as one line a person can act on, without a stack trace. */
final class OneLine {
    private OneLine() {}

    static String of(Throwable e) {
        if (e instanceof NoSuchFileException n) {
            return n.getFile() + ": no such file";
        }
        if (e instanceof AccessDeniedException a) {
            return a.getFile() + ": permission denied";
        }
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            message = e.getClass().getSimpleName();
        }
        if (e instanceof IOException && !(e.getClass() == IOException.class)) {
            message = e.getClass().getSimpleName() + ": " + message;
        }
        return message.lines().findFirst().orElse(message);
    }
}
