package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The heap budget of {@link Json#parse(String, int, long)}: what it counts, and that the budget itself is allowed. */
class JsonHeapBudgetTest {

    /** Literals are shared objects, but each still takes a list element: an array of them is not free. */
    @Test
    void arraysOfLiteralsCountTheirElements() {
        for (String literal : List.of("null", "true", "false")) {
            String text = "[" + (literal + ",").repeat(4000) + literal + "]";
            JsonException e = assertThrows(JsonException.class, () -> Json.parse(text, Integer.MAX_VALUE, 20_000),
                    literal);
            assertTrue(e.heapLimitExceeded(), e.getMessage());
            assertEquals(4001, ((List<?>) Json.parse(text, Integer.MAX_VALUE, 1_000_000)).size());
        }
    }

    /**
     * The estimates of the parser's constants, added up for two small texts: a number (16 bytes); an object with
     * one entry (the map 56, its first table 80, the entry 52, the key "a" 48 + 1, the value 16). A text whose
     * values take exactly the budget parses; one byte less is refused. (Update the sums with the constants.)
     */
    @Test
    void valuesThatTakeExactlyTheBudgetParse() {
        assertEquals(1L, Json.parse("1", 1, 16));
        assertTrue(assertThrows(JsonException.class, () -> Json.parse("1", 1, 15)).heapLimitExceeded());
        long oneEntry = 56 + 80 + 52 + 49 + 16;
        assertEquals(Map.of("a", 1L), Json.parse("{\"a\":1}", 1, oneEntry));
        assertTrue(assertThrows(JsonException.class, () -> Json.parse("{\"a\":1}", 1, oneEntry - 1))
                .heapLimitExceeded());
        // the table is charged once per map: a second entry adds only the entry, its key and its value
        long twoEntries = oneEntry + 52 + 49 + 16;
        assertEquals(2, ((Map<?, ?>) Json.parse("{\"a\":1,\"b\":2}", 1, twoEntries)).size());
        assertThrows(JsonException.class, () -> Json.parse("{\"a\":1,\"b\":2}", 1, twoEntries - 1));
    }
}
