package dev.lokr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link DemoProgress}: redrawn in place on a terminal, a few whole lines into a file or a pipe. */
class DemoProgressTest {

    private static String run(boolean enabled, boolean redraw, int total) {
        StringWriter text = new StringWriter();
        DemoProgress p = new DemoProgress(new PrintWriter(text, true), enabled, redraw);
        p.start("training", total);
        for (int i = 1; i <= total; i++) {
            p.step(i, 1.0 / i);
        }
        return text.toString();
    }

    @Test
    void intoAFileItWritesTheStartEachQuarterAndTheEndAsLines() {
        String log = run(true, false, 150);
        assertFalse(log.contains("\r"), log);
        List<String> lines = log.lines().toList();
        assertEquals(5, lines.size(), log);
        for (String percent : List.of("  0% 0/150", " 25% 38/150", " 50% 75/150", " 75% 113/150", "100% 150/150")) {
            assertTrue(lines.stream().anyMatch(l -> l.contains(percent)), percent + " in\n" + log);
        }
        assertTrue(lines.get(4).contains("done in"), log);
        assertEquals(2, run(true, false, 1).lines().count(), "one step: the start and the end");
    }

    @Test
    void onATerminalItRedrawsOneLine() {
        String bar = run(true, true, 3);
        assertTrue(bar.startsWith("\rtraining"), bar);
        assertEquals(1, bar.chars().filter(c -> c == '\n').count(), "one line, ended once: " + bar);
        assertTrue(bar.endsWith("\n"), bar);
        assertTrue(bar.contains("100% 3/3"), bar);
        assertEquals("", run(false, true, 3));
        assertEquals("", run(false, false, 3));
    }

    @Test
    void aSecondBarIntoAFileWritesItsOwnQuarters() {
        StringWriter text = new StringWriter();
        DemoProgress p = new DemoProgress(new PrintWriter(text, true), true, false);
        for (String label : List.of("pretraining", "adapting")) {
            p.start(label, 8);
            for (int i = 1; i <= 8; i++) {
                p.step(i, 1.0 / i);
            }
        }
        List<String> second = text.toString().lines().filter(l -> l.startsWith("adapting")).toList();
        assertEquals(5, second.size(), "the start, 3 quarters and the end:\n" + text);
        assertTrue(second.get(2).contains(" 50% 4/8"), text.toString());
    }
}
