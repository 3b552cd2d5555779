package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class JsonTest {

    @Test
    void arraysCanBeCappedInLength() {
        assertEquals(java.util.List.of(1L, 2L), Json.parse("[1,2]", 2));
        assertEquals(java.util.List.of(), Json.parse("[]", 0));
        JsonException e = assertThrows(JsonException.class, () -> Json.parse("{\"a\":[[1],[1,2,3]]}", 2));
        assertTrue(e.getMessage().contains("has more than 2 elements"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[]", -1));
    }

    @Test
    void parsesEveryKindOfValue() {
        Object v =
                Json.parse(
                        " {\"s\": \"x\", \"i\": -12, \"d\": 1.5, \"e\": 1E2, \"t\": true, \"f\": false,"
                                + " \"n\": null, \"a\": [1, [], {}], \"o\": {\"k\": \"v\"}} \r\n\t");
        Map<?, ?> m = assertInstanceOf(LinkedHashMap.class, v);
        assertEquals(
                List.of("s", "i", "d", "e", "t", "f", "n", "a", "o"), new ArrayList<>(m.keySet()));
        assertEquals("x", m.get("s"));
        assertEquals(-12L, m.get("i"));
        assertEquals(1.5, m.get("d"));
        assertEquals(100.0, m.get("e"));
        assertEquals(Boolean.TRUE, m.get("t"));
        assertEquals(Boolean.FALSE, m.get("f"));
        assertTrue(m.containsKey("n"));
        assertNull(m.get("n"));
        assertEquals(Arrays.asList(1L, List.of(), Map.of()), m.get("a"));
        assertEquals(Map.of("k", "v"), m.get("o"));
        assertNull(Json.parse("null"));
        assertEquals("top", Json.parse("\"top\""));
        assertEquals(7L, Json.parse("7"));
    }

    @Test
    void numbers() {
        assertEquals(Long.MAX_VALUE, Json.parse("9223372036854775807"));
        assertEquals(Long.MIN_VALUE, Json.parse("-9223372036854775808"));
        assertEquals(9.223372036854775808E18, Json.parse("9223372036854775808"));
        assertEquals(-9.223372036854775809E18, Json.parse("-9223372036854775809"));
        assertEquals(1e29, Json.parse("100000000000000000000000000000"));
        assertEquals(0L, Json.parse("-0"));
        assertEquals(
                Double.doubleToRawLongBits(-0.0),
                Double.doubleToRawLongBits((Double) Json.parse("-0.0")));
        assertEquals(0.0, Json.parse("1e-400"));
        assertEquals(2.5e-3, Json.parse("2.5e-3"));
        assertEquals(1.0, Json.parse("1.0"));
        assertEquals(1e10, Json.parse("1E+10"));
        assertEquals(Double.MAX_VALUE, Json.parse("1.7976931348623157e308"));
        String digits300 = "1" + "0".repeat(300);
        assertEquals(1e300, Json.parse(digits300));
    }

    @Test
    void hugeNumbersAreRejected() {
        for (String s :
                new String[] {
                    "1e400", "-1e400", "1" + "0".repeat(400), "1e99999999999999999999", "[2e308]"
                }) {
            JsonException e = assertThrows(JsonException.class, () -> Json.parse(s), s);
            assertTrue(e.getMessage().contains("out of the range of a double"), e.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "",
                " ",
                "[1,]",
                "[1,\n]",
                "{\"a\":1,}",
                "[,1]",
                "{,}",
                "[1 2]",
                "{\"a\" 1}",
                "{\"a\":1 \"b\":2}",
                "{a:1}",
                "{'a':1}",
                "'a'",
                "{1:2}",
                "01",
                "-01",
                "00",
                "+1",
                ".5",
                "1.",
                "1.e3",
                "1e",
                "1e+",
                "-",
                "--1",
                "NaN",
                "Infinity",
                "-Infinity",
                "0x10",
                "1_000",
                "\"\\x\"",
                "\"\\u12\"",
                "\"\\u12G4\"",
                "\"\\U0041\"",
                "\"\\ud800\"",
                "\"\\udc00\"",
                "\"\\ud800\\u0041\"",
                "\"\\ud800x\"",
                "\"a\tb\"",
                "\"a\nb\"",
                "\"\u0000\"",
                "\"\u001f\"",
                "\"abc",
                "\"abc\\",
                "tru",
                "nul",
                "fals",
                "truex",
                "True",
                "NULL",
                "[1]]",
                "{} {}",
                "1 2",
                "/* c */ 1",
                "// c\n1",
                "\uFEFF1",
                "\u00a01",
                "\u000b1",
                "[",
                "{",
                "{\"a\"",
                "{\"a\":",
                "]",
                "}",
                "{\"a\":1,\"a\":2}",
                "[1,,2]",
                "\"\\ud800\\ud800\"",
                "\"\ud800\"",
                "\"\udc00\ud800\""
            })
    void rejectsInvalid(String text) {
        JsonException e =
                assertThrows(
                        JsonException.class,
                        () -> Json.parse(text),
                        () -> "accepted " + Json.quote(text));
        assertTrue(e.getMessage().startsWith("line "), e.getMessage());
        assertTrue(e.offset() >= 0, e.getMessage());
    }

    /**
     * {@code printable} leaves a plain name alone and quotes, escapes and never shortens one that could break a
     * log line or a terminal: a line break, an ANSI escape, a right-to-left override, a space, a quote.
     */
    @Test
    void printableEscapesWhatCouldForgeALineAndKeepsTheRest() {
        String plain = "base_model.model.layers.0.self_attn.q_proj.weight";
        assertEquals(plain, Json.printable(plain));
        assertEquals("lora_unet_blocks-1:x/y\u00e9", Json.printable("lora_unet_blocks-1:x/y\u00e9"));
        assertEquals("'fc\\u000amerged evil -> fc.weight'", Json.printable("fc\nmerged evil -> fc.weight"));
        assertEquals("'\\u001b[31mred'", Json.printable("\u001b[31mred"));
        assertEquals("'abc\\u202edcba'", Json.printable("abc\u202edcba"));
        assertEquals("'a b'", Json.printable("a b"));
        assertEquals("'it\\'s'", Json.printable("it's"));
        assertEquals("null", Json.printable(null));
        assertEquals("'a\\u00a0->\\u00a0b'".replace("\\u00a0", "\u00a0"), Json.printable("a\u00a0->\u00a0b"),
                "any space quotes the name");
        assertEquals("'\\ud83d\\ude00'", Json.printable("\ud83d\ude00"), "beyond the plane: escaped as a pair");
        assertEquals("'x\\u0085y'", Json.printable("x\u0085y"));
        assertEquals("'x\\u2066y'", Json.printable("x\u2066y"));
        // a backslash quotes (and is escaped), so that a name holding a backslash-u sequence is not read as an escape
        assertEquals("'a\\\\u000ab'", Json.printable("a\\u000ab"));
        // the paragraph separator breaks lines as the line separator does: escaped in both
        assertEquals("'p\\u2029q'", Json.printable("p\u2029q"));
        assertEquals("p\\u2029q", Json.oneLine("p\u2029q"));
        // oneLine: a message stays one line, names inside it escaped, nothing quoted
        assertEquals("module 'a b' failed at \\u001b[2K \\u000d\\u2028 end",
                Json.oneLine("module 'a b' failed at \u001b[2K\n\r\u2028 end"));
        assertEquals("null", Json.oneLine(null));
        String longName = "x".repeat(200) + "\n";
        assertEquals(200 + 6 + 2, Json.printable(longName).length(), "never shortened");
        assertTrue(Json.quote(longName).endsWith("...'"), "error messages still shorten");
    }

    @Test
    void messagesNamePositionAndProblem() {
        JsonException e = assertThrows(JsonException.class, () -> Json.parse("[1,\n 2,]"));
        assertEquals("line 2, column 4 (offset 7): trailing comma before ']'", e.getMessage());
        assertEquals(7, e.offset());
        e = assertThrows(JsonException.class, () -> Json.parse("{\"ab\": 1, \"ab\": 2}"));
        assertEquals("line 1, column 11 (offset 10): duplicate key 'ab'", e.getMessage());
        e = assertThrows(JsonException.class, () -> Json.parse("\"\\q\""));
        assertTrue(e.getMessage().contains("invalid escape sequence \\'q'"), e.getMessage());
        e = assertThrows(JsonException.class, () -> Json.parse("007"));
        assertTrue(e.getMessage().contains("leading zero"), e.getMessage());
    }

    @Test
    void duplicateKeysOnlyMatterWithinOneObject() {
        assertEquals(
                List.of(Map.of("a", 1L), Map.of("a", 2L)), Json.parse("[{\"a\":1},{\"a\":2}]"));
        assertThrows(JsonException.class, () -> Json.parse("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}"));
        // Escapes are decoded before comparing.
        assertThrows(JsonException.class, () -> Json.parse("{\"a\":1,\"\\u0061\":2}"));
    }

    @Test
    void depthLimit() {
        String ok = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        Object v = Json.parse(ok);
        for (int i = 1; i < Json.MAX_DEPTH; i++) {
            v = ((List<?>) v).get(0);
        }
        assertEquals(List.of(), v);
        String tooDeep = "[".repeat(Json.MAX_DEPTH + 1) + "]".repeat(Json.MAX_DEPTH + 1);
        JsonException e = assertThrows(JsonException.class, () -> Json.parse(tooDeep));
        assertTrue(e.getMessage().contains("nesting deeper than 64"), e.getMessage());
        String objects =
                "{\"a\":".repeat(Json.MAX_DEPTH + 1) + "1" + "}".repeat(Json.MAX_DEPTH + 1);
        assertThrows(JsonException.class, () -> Json.parse(objects));
    }

    @Test
    void depthBombsFailFast() {
        assertTimeoutPreemptively(
                Duration.ofSeconds(5),
                () -> {
                    for (String bomb :
                            new String[] {
                                "[".repeat(10000),
                                "{\"a\":".repeat(10000),
                                "[".repeat(1_000_000) + "]".repeat(1_000_000)
                            }) {
                        JsonException e = assertThrows(JsonException.class, () -> Json.parse(bomb));
                        assertTrue(
                                e.getMessage().contains("nesting deeper than 64"), e.getMessage());
                    }
                });
    }

    @Test
    void unicodeStrings() {
        assertEquals(
                "é\u00e9😀\u0000/\"\\\b\f\n\r\t",
                Json.parse("\"é\\u00E9\\ud83d\\ude00\\u0000\\/\\\"\\\\\\b\\f\\n\\r\\t\""));
        assertEquals("😀", Json.parse("\"😀\""));
        assertEquals("\u2028\u007f", Json.parse("\"\u2028\u007f\""));
    }

    @Test
    void writerEscapes() {
        assertEquals(
                "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/é😀\"",
                Json.write("a\"b\\c\n\r\t\b\f\u0001\u001f/é😀"));
        StringBuilder all = new StringBuilder();
        for (char c = 0; c < 0x800; c++) {
            all.append(c);
        }
        all.append("😀\uffff");
        assertEquals(all.toString(), Json.parse(Json.write(all.toString())));
        assertEquals(
                List.of(all.toString()), Json.parse(Json.write(List.of(all.toString()), true)));
    }

    @Test
    void writerRefusesWhatIsNotJson() {
        assertThrows(JsonException.class, () -> Json.write(Double.NaN));
        assertThrows(JsonException.class, () -> Json.write(Double.POSITIVE_INFINITY));
        assertThrows(JsonException.class, () -> Json.write(List.of(Float.NEGATIVE_INFINITY)));
        assertThrows(JsonException.class, () -> Json.write(new double[] {1, Double.NaN}));
        assertThrows(JsonException.class, () -> Json.write("a\ud800"));
        assertThrows(JsonException.class, () -> Json.write("\udc00a"));
        assertThrows(JsonException.class, () -> Json.write(Map.of(1, 2)));
        assertThrows(JsonException.class, () -> Json.write(new Object()));
        Map<String, Object> nullKey = new LinkedHashMap<>();
        nullKey.put(null, 1);
        assertThrows(JsonException.class, () -> Json.write(nullKey));
        List<Object> cycle = new ArrayList<>();
        cycle.add(cycle);
        JsonException e = assertThrows(JsonException.class, () -> Json.write(cycle));
        assertTrue(e.getMessage().contains("cycle"), e.getMessage());
    }

    @Test
    void writerFormats() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("a", 1);
        m.put("b", new long[] {1, 2});
        m.put("c", Map.of());
        m.put("d", List.of());
        m.put("e", null);
        m.put("f", 0.5f);
        m.put("g", new BigInteger("123456789012345678901234567890"));
        m.put("h", new BigDecimal("1.25E+3"));
        m.put("i", 'q');
        m.put("j", new int[] {3});
        m.put("k", new String[] {"x"});
        assertEquals(
                "{\"a\":1,\"b\":[1,2],\"c\":{},\"d\":[],\"e\":null,\"f\":0.5,"
                        + "\"g\":123456789012345678901234567890,\"h\":1.25E+3,\"i\":\"q\",\"j\":[3],\"k\":[\"x\"]}",
                Json.write(m));
        Map<String, Object> small = new LinkedHashMap<>();
        small.put("a", 1);
        small.put("b", List.of(true, Map.of("c", "d")));
        small.put("e", Map.of());
        assertEquals(
                "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    {\n      \"c\": \"d\"\n    }\n  ],\n  \"e\": {}\n}",
                Json.write(small, true));
        assertEquals("[]", Json.write(List.of(), true));
        assertEquals("null", Json.write(null));
        assertEquals(1250.0, Json.parse(Json.write(new BigDecimal("1.25E+3"))));
    }

    static LongStream seeds() {
        return LongStream.range(0, 16).map(i -> 0x5EED_0000L + i);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void doublesRoundTrip(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Object> values =
                new ArrayList<>(
                        List.of(
                                0.0,
                                -0.0,
                                Double.MIN_VALUE,
                                -Double.MIN_VALUE,
                                Double.MAX_VALUE,
                                Double.MIN_NORMAL,
                                0.1,
                                1e21,
                                1e-7,
                                1.0 / 3,
                                123456789.0,
                                5e-324));
        while (values.size() < 500) {
            double d = Double.longBitsToDouble(r.nextLong());
            if (Double.isFinite(d)) {
                values.add(d);
            }
        }
        List<?> back = (List<?>) Json.parse(Json.write(values));
        for (int i = 0; i < values.size(); i++) {
            double want = (Double) values.get(i);
            double got = (Double) back.get(i);
            assertEquals(
                    Double.doubleToRawLongBits(want),
                    Double.doubleToRawLongBits(got),
                    "seed " + seed + ": " + want + " came back as " + got);
        }
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void randomValuesRoundTrip(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < 20; i++) {
            Object v = randomValue(r, 0);
            String compact = Json.write(v);
            String pretty = Json.write(v, true);
            Object back = Json.parse(compact);
            assertEquals(v, back, "seed " + seed + ", value " + i);
            assertEquals(v, Json.parse(pretty), "seed " + seed + ", value " + i + " (pretty)");
            assertEquals(compact, Json.write(back), "seed " + seed + ", value " + i + " (order)");
            assertEquals(
                    pretty, Json.write(Json.parse(pretty), true), "seed " + seed + ", value " + i);
        }
    }

    private static Object randomValue(SplittableRandom r, int depth) {
        int kind = r.nextInt(depth >= 6 ? 5 : 7);
        switch (kind) {
            case 0:
                return null;
            case 1:
                return r.nextBoolean();
            case 2:
                return r.nextBoolean() ? r.nextLong() : (long) r.nextInt(-1000, 1000);
            case 3:
                {
                    double d =
                            r.nextBoolean()
                                    ? r.nextDouble(-1e6, 1e6)
                                    : Double.longBitsToDouble(r.nextLong());
                    return Double.isFinite(d) ? d : 0.25;
                }
            case 4:
                return randomString(r);
            case 5:
                {
                    List<Object> list = new ArrayList<>();
                    int n = r.nextInt(5);
                    for (int i = 0; i < n; i++) {
                        list.add(randomValue(r, depth + 1));
                    }
                    return list;
                }
            default:
                {
                    Map<String, Object> map = new LinkedHashMap<>();
                    int n = r.nextInt(5);
                    for (int i = 0; i < n; i++) {
                        map.put(randomString(r), randomValue(r, depth + 1));
                    }
                    return map;
                }
        }
    }

    private static String randomString(SplittableRandom r) {
        StringBuilder b = new StringBuilder();
        int n = r.nextInt(12);
        for (int i = 0; i < n; i++) {
            switch (r.nextInt(5)) {
                case 0 -> b.append((char) r.nextInt(0, 0x20));
                case 1 -> b.append("\"\\/".charAt(r.nextInt(3)));
                case 2 -> b.append((char) r.nextInt(0x20, 0x7f));
                case 3 -> b.appendCodePoint(r.nextInt(0x10000, 0x110000));
                default -> {
                    char c = (char) r.nextInt(0x80, 0xd800);
                    b.append(c);
                }
            }
        }
        return b.toString();
    }

    @Test
    void typeNames() {
        assertEquals("object", Json.typeName(Map.of()));
        assertEquals("array", Json.typeName(List.of()));
        assertEquals("string", Json.typeName(""));
        assertEquals("number", Json.typeName(1L));
        assertEquals("number", Json.typeName(1.0));
        assertEquals("boolean", Json.typeName(true));
        assertEquals("null", Json.typeName(null));
    }
}
