package dev.lokr.io;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.ArrayList;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small, strict JSON (RFC 8259) parser and writer with no dependencies.
 *
 * <p><b>Parsing</b> ({@link #parse(String)}) maps JSON values to plain Java objects:
 *
 * <ul>
 *   <li>object &rarr; {@code Map<String, Object>} (a {@link LinkedHashMap} that keeps the order of the
 *       text; a key that appears twice in one object is an error);
 *   <li>array &rarr; {@code List<Object>} (an {@link ArrayList});
 *   <li>string &rarr; {@link String};
 *   <li>number &rarr; {@link Long} when the token has no fraction and no exponent and fits in a
 *       {@code long}, otherwise {@link Double} (a number beyond the range of a double, such as {@code
 *       1e400}, is an error; one that underflows becomes {@code 0.0});
 *   <li>{@code true}/{@code false} &rarr; {@link Boolean};
 *   <li>{@code null} &rarr; Java {@code null}.
 * </ul>
 *
 * <p>Everything outside the RFC grammar is rejected: trailing commas, comments, single quotes,
 * unquoted keys, leading zeros ({@code 01}), {@code +1}, {@code .5}, {@code 1.}, {@code NaN}, {@code
 * Infinity}, unescaped control characters in strings, unknown escapes, lone UTF-16 surrogates
 * (escaped or raw), a byte-order mark, whitespace other than space/tab/CR/LF, and anything but
 * whitespace after the top-level value. Objects and arrays may nest at most {@value #MAX_DEPTH} levels
 * deep, so hostile input such as ten thousand {@code [} fails fast instead of overflowing the stack.
 * Every failure is a {@link JsonException} whose message names the line, column and offset.
 *
 * <p><b>Writing</b> ({@link #write(Object)}, {@link #write(Object, boolean)}) accepts the same kinds
 * of values plus a few conveniences (any {@link Map} with {@link String} keys, any {@link
 * Collection}, object and primitive {@code long[]/int[]/double[]/float[]} arrays, the usual {@link
 * Number} types, {@link CharSequence}, {@link Character}). Strings are escaped so the output is always
 * valid JSON; non-ASCII characters are written as-is (the output is meant to be encoded as UTF-8).
 * Doubles are written with {@link Double#toString(double)}, which round-trips exactly through {@link
 * #parse(String)}; NaN and infinities are refused with a {@link JsonException}, as are strings with
 * lone surrogates and nesting deeper than {@value #MAX_DEPTH} (which also catches cycles).
 *
 * <p>This class is thread-safe (it has no state).
 */
public final class Json {
  /** The deepest nesting of objects/arrays that {@link #parse(String)} and the writers accept. */
  public static final int MAX_DEPTH = 64;

  private Json() {}

  /**
   * Parses one JSON text.
   *
   * @param text the whole JSON text (surrounding whitespace is allowed)
   * @return a {@code Map<String,Object>}, {@code List<Object>}, {@code String}, {@code Long}, {@code
   *     Double}, {@code Boolean}, or {@code null} for the JSON literal {@code null}
   * @throws JsonException if the text is not exactly one valid JSON value, or exceeds {@value
   *     #MAX_DEPTH} levels of nesting; the message names the position and the problem
   * @throws NullPointerException if {@code text} is null
   */
  public static Object parse(String text) {
    return parse(text, Integer.MAX_VALUE);
  }

  /**
   * Parses one JSON text whose arrays hold at most {@code maxArrayLength} elements: for formats
   * whose arrays are known to be short (a safetensors header's shapes), so that a hostile text
   * cannot make the parser build a huge list.
   *
   * @param text the whole JSON text (surrounding whitespace is allowed)
   * @param maxArrayLength the most elements any array may hold, at least 0
   * @return as {@link #parse(String)}
   * @throws JsonException as {@link #parse(String)}, or if an array holds more than {@code
   *     maxArrayLength} elements
   * @throws IllegalArgumentException if {@code maxArrayLength} is negative
   */
  public static Object parse(String text, int maxArrayLength) {
    return parse(text, maxArrayLength, Long.MAX_VALUE);
  }

  /**
   * Parses one JSON text from an untrusted source within a heap budget: the parser adds up what the
   * values it builds take on the heap (an estimate of the JVM's object sizes) and stops once that
   * passes {@code maxHeapBytes}, so that a hostile text of tiny values (a few bytes each, each a map
   * entry, key and value of about 150 bytes) ends in a {@link JsonException} rather than an {@link
   * OutOfMemoryError}.
   *
   * @param text the whole JSON text (surrounding whitespace is allowed)
   * @param maxArrayLength the most elements any array may hold, at least 0
   * @param maxHeapBytes the most heap the parsed values may take, at least 0
   * @return as {@link #parse(String)}
   * @throws JsonException as {@link #parse(String, int)}, or if the values would take more than
   *     {@code maxHeapBytes} ({@link JsonException#heapLimitExceeded()})
   * @throws IllegalArgumentException if {@code maxArrayLength} or {@code maxHeapBytes} is negative
   */
  public static Object parse(String text, int maxArrayLength, long maxHeapBytes) {
    Objects.requireNonNull(text, "text");
    if (maxArrayLength < 0) {
      throw new IllegalArgumentException("maxArrayLength must be at least 0, got " + maxArrayLength);
    }
    if (maxHeapBytes < 0) {
      throw new IllegalArgumentException("maxHeapBytes must be at least 0, got " + maxHeapBytes);
    }
    Parser p = new Parser(text, maxArrayLength, maxHeapBytes);
    p.skipWhitespace();
    if (p.pos >= p.len) {
      throw p.error(p.pos, "empty input, expected a JSON value");
    }
    Object value = p.value(0);
    p.skipWhitespace();
    if (p.pos < p.len) {
      throw p.error(p.pos, "unexpected " + p.describeAt(p.pos) + " after the JSON value");
    }
    return value;
  }

  /**
   * Writes a value as compact JSON (no whitespace).
   *
   * @param value the value (see the class description for the accepted types)
   * @return the JSON text
   * @throws JsonException if the value (or something inside it) cannot be written: an unsupported
   *     type, a non-string map key, NaN or an infinity, a string with a lone surrogate, or nesting
   *     deeper than {@value #MAX_DEPTH}
   */
  public static String write(Object value) {
    return write(value, false);
  }

  /**
   * Writes a value as JSON, optionally pretty-printed (two-space indentation, one member or element
   * per line, {@code ": "} between key and value; empty objects and arrays stay {@code {}} and {@code
   * []}).
   *
   * @param value the value (see the class description for the accepted types)
   * @param pretty whether to pretty-print
   * @return the JSON text
   * @throws JsonException under the same conditions as {@link #write(Object)}
   */
  public static String write(Object value, boolean pretty) {
    StringBuilder out = new StringBuilder();
    writeValue(out, value, pretty, 0);
    return out.toString();
  }

  /**
   * Names the JSON type of a value as returned by {@link #parse(String)}: {@code "object"}, {@code
   * "array"}, {@code "string"}, {@code "number"}, {@code "boolean"} or {@code "null"} (and the Java
   * class name for anything else). Handy for error messages.
   *
   * @param value a parsed value
   * @return the type name
   */
  public static String typeName(Object value) {
    if (value == null) {
      return "null";
    } else if (value instanceof Map) {
      return "object";
    } else if (value instanceof List) {
      return "array";
    } else if (value instanceof String) {
      return "string";
    } else if (value instanceof Number) {
      return "number";
    } else if (value instanceof Boolean) {
      return "boolean";
    }
    return value.getClass().getName();
  }

  /**
   * Quotes a string for use inside an error message: wraps it in single quotes, escapes control and
   * non-printable characters, and shortens it to about 80 characters.
   */
  static String quote(String s) {
    return quoted(s, 80);
  }

  /**
   * A name (of a tensor, a module, a layer) as it can be printed on one line of a log or a terminal:
   * unchanged when it holds no space of any kind, no quote, no backslash, no control or format character,
   * no line or paragraph separator and no character outside the Basic Multilingual Plane; otherwise quoted,
   * with those characters escaped as {@code \\uXXXX} (a character beyond the plane as its surrogate
   * pair), as in error messages but never shortened. A name from a file can hold anything, a line break
   * or a terminal escape included.
   *
   * @param s the name, or null
   * @return {@code s} itself, or its quoted form ({@code "null"} for null)
   */
  public static String printable(String s) {
    if (s == null) {
      return "null";
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isSpaceChar(c) || c == '\'' || c == '\\' || needsEscape(c)) {
        return quoted(s, Integer.MAX_VALUE);
      }
    }
    return s;
  }

  /**
   * Text for one line of output: line breaks as spaces, every other character that {@link #printable}
   * escapes as {@code \\uXXXX}, nothing quoted or shortened. For messages that carry names from files.
   *
   * @param text the text, or null
   * @return the text on one line ({@code "null"} for null)
   */
  public static String oneLine(String text) {
    if (text == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\n') {
        b.append(' ');
      } else if (needsEscape(c)) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  /** {@code s} in single quotes, escaped, shortened to {@code limit} characters and {@code ...}. */
  private static String quoted(String s, int limit) {
    if (s == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder("'");
    int end = Math.min(s.length(), limit);
    for (int i = 0; i < end; i++) {
      char c = s.charAt(i);
      if (c == '\'' || c == '\\') {
        b.append('\\').append(c);
      } else if (needsEscape(c)) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    if (s.length() > end) {
      b.append("...");
    }
    return b.append('\'').toString();
  }

  /**
   * Control characters, surrogates, line and paragraph separators, and format characters (a
   * right-to-left override, say, which would reorder what a terminal shows).
   */
  private static boolean needsEscape(char c) {
    return c < 0x20 || c == 0x7f || Character.isSurrogate(c) || c == '\u2028' || c == '\u2029'
        || Character.getType(c) == Character.FORMAT || Character.getType(c) == Character.CONTROL;
  }

  // ---------------------------------------------------------------------------------------------
  // Parser

  private static final class Parser {
    // Heap estimates of what the parser builds (64-bit JVM, compressed references), rounded up.
    /** A {@code LinkedHashMap} without entries. */
    private static final long MAP_BYTES = 56;
    /** Its first table of 16 slots. */
    private static final long MAP_TABLE_BYTES = 80;
    /** One entry, and its share of the table (which doubles at three quarters full). */
    private static final long ENTRY_BYTES = 52;
    /** A {@code String} and its array's header, before the characters. */
    private static final long STRING_BYTES = 48;
    /** An {@code ArrayList} and its array's header. */
    private static final long LIST_BYTES = 40;
    /** One list element's reference, with the array's growth. */
    private static final long ELEMENT_BYTES = 8;
    /** A boxed {@code Long} or {@code Double}. */
    private static final long NUMBER_BYTES = 16;

    private final String s;
    private final int len;
    private final int maxArrayLength;
    private final long maxHeapBytes;
    private long heapBytes;
    private int pos;

    Parser(String s, int maxArrayLength, long maxHeapBytes) {
      this.s = s;
      this.len = s.length();
      this.maxArrayLength = maxArrayLength;
      this.maxHeapBytes = maxHeapBytes;
    }

    /** Counts {@code bytes} more of the parsed values; refuses at the budget. */
    private void charge(long bytes) {
      heapBytes += bytes;
      if (heapBytes > maxHeapBytes) {
        throw new JsonException(
            where(pos) + ": the parsed values would take more than " + (maxHeapBytes >> 20)
                + " MiB of heap (" + maxHeapBytes + " bytes), the most allowed here",
            pos,
            JsonException.Limit.HEAP);
      }
    }

    /**
     * Counts a string of {@code chars} characters, one byte each as the JVM stores Latin-1 text (one of
     * other text takes two, but was at least two bytes of UTF-8 in a file, so the heap it takes beyond this
     * count stays within the size of the text).
     */
    private void chargeString(long chars) {
      charge(STRING_BYTES + chars);
    }

    void skipWhitespace() {
      while (pos < len) {
        char c = s.charAt(pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
          pos++;
        } else {
          return;
        }
      }
    }

    Object value(int depth) {
      if (pos >= len) {
        throw error(pos, "unexpected end of input, expected a value");
      }
      char c = s.charAt(pos);
      switch (c) {
        case '{':
          return object(depth + 1);
        case '[':
          return array(depth + 1);
        case '"':
          return string();
        case 't':
          literal("true");
          return Boolean.TRUE;
        case 'f':
          literal("false");
          return Boolean.FALSE;
        case 'n':
          literal("null");
          return null;
        default:
          if (c == '-' || (c >= '0' && c <= '9')) {
            return number();
          }
          throw error(pos, "unexpected " + describeAt(pos) + ", expected a value");
      }
    }

    private void checkDepth(int depth) {
      if (depth > MAX_DEPTH) {
        throw error(pos, "nesting deeper than " + MAX_DEPTH + " levels");
      }
    }

    private Map<String, Object> object(int depth) {
      checkDepth(depth);
      int open = pos;
      pos++; // '{'
      charge(MAP_BYTES);
      Map<String, Object> map = new LinkedHashMap<>();
      skipWhitespace();
      if (pos < len && s.charAt(pos) == '}') {
        pos++;
        return map;
      }
      while (true) {
        if (pos >= len) {
          throw error(pos, "unexpected end of input in object started at " + where(open));
        }
        char c = s.charAt(pos);
        if (c != '"') {
          if (c == '}' && !map.isEmpty()) {
            throw error(pos, "trailing comma before '}'");
          }
          throw error(pos, "unexpected " + describeAt(pos) + ", expected a string key");
        }
        int keyStart = pos;
        String key = string();
        skipWhitespace();
        if (pos >= len || s.charAt(pos) != ':') {
          throw error(pos, "unexpected " + describeAt(pos) + ", expected ':' after key " + quote(key));
        }
        pos++;
        skipWhitespace();
        Object v = value(depth);
        if (map.containsKey(key)) {
          throw error(keyStart, "duplicate key " + quote(key));
        }
        charge(map.isEmpty() ? MAP_TABLE_BYTES + ENTRY_BYTES : ENTRY_BYTES);
        map.put(key, v);
        skipWhitespace();
        if (pos >= len) {
          throw error(pos, "unexpected end of input in object started at " + where(open));
        }
        c = s.charAt(pos);
        if (c == ',') {
          pos++;
          skipWhitespace();
        } else if (c == '}') {
          pos++;
          return map;
        } else {
          throw error(pos, "unexpected " + describeAt(pos) + ", expected ',' or '}'");
        }
      }
    }

    private List<Object> array(int depth) {
      checkDepth(depth);
      int open = pos;
      pos++; // '['
      charge(LIST_BYTES);
      List<Object> list = new ArrayList<>();
      skipWhitespace();
      if (pos < len && s.charAt(pos) == ']') {
        pos++;
        return list;
      }
      while (true) {
        if (pos >= len) {
          throw error(pos, "unexpected end of input in array started at " + where(open));
        }
        if (s.charAt(pos) == ']' && !list.isEmpty()) {
          throw error(pos, "trailing comma before ']'");
        }
        if (list.size() == maxArrayLength) {
          throw new JsonException(
              where(pos) + ": array started at " + where(open) + " has more than " + maxArrayLength + " elements",
              pos,
              JsonException.Limit.ARRAY_LENGTH);
        }
        charge(ELEMENT_BYTES);
        list.add(value(depth));
        skipWhitespace();
        if (pos >= len) {
          throw error(pos, "unexpected end of input in array started at " + where(open));
        }
        char c = s.charAt(pos);
        if (c == ',') {
          pos++;
          skipWhitespace();
        } else if (c == ']') {
          pos++;
          return list;
        } else {
          throw error(pos, "unexpected " + describeAt(pos) + ", expected ',' or ']'");
        }
      }
    }

    private void literal(String word) {
      if (!s.startsWith(word, pos)) {
        throw error(pos, "invalid literal, expected '" + word + "'");
      }
      pos += word.length();
    }

    private String string() {
      int open = pos;
      int i = pos + 1;
      // Fast path: no escapes.
      while (i < len) {
        char c = s.charAt(i);
        if (c == '"') {
          chargeString(i - pos - 1);
          String result = s.substring(pos + 1, i);
          pos = i + 1;
          return result;
        }
        if (c == '\\') {
          break;
        }
        i = checkPlainChar(c, i);
      }
      StringBuilder b = new StringBuilder(i - pos + 16);
      b.append(s, pos + 1, i);
      while (i < len) {
        char c = s.charAt(i);
        if (c == '"') {
          chargeString(b.length());
          pos = i + 1;
          return b.toString();
        }
        if (c == '\\') {
          i = escape(i, b);
        } else {
          int next = checkPlainChar(c, i);
          b.append(s, i, next);
          i = next;
        }
      }
      throw error(len, "unterminated string started at " + where(open));
    }

    /** Validates an unescaped char at i; returns the index after it (and its low surrogate). */
    private int checkPlainChar(char c, int i) {
      if (c < 0x20) {
        throw error(i, "unescaped control character " + String.format("U+%04X", (int) c) + " in string");
      }
      if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
          return i + 2;
        }
        throw error(i, "lone surrogate " + String.format("U+%04X", (int) c) + " in string");
      }
      return i + 1;
    }

    /** Decodes the escape starting at backslash index i into b; returns the index after it. */
    private int escape(int i, StringBuilder b) {
      if (i + 1 >= len) {
        throw error(i, "unterminated escape sequence");
      }
      char e = s.charAt(i + 1);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          b.append(e);
          return i + 2;
        case 'b':
          b.append('\b');
          return i + 2;
        case 'f':
          b.append('\f');
          return i + 2;
        case 'n':
          b.append('\n');
          return i + 2;
        case 'r':
          b.append('\r');
          return i + 2;
        case 't':
          b.append('\t');
          return i + 2;
        case 'u':
          char c = hex4(i);
          if (Character.isHighSurrogate(c)) {
            if (i + 12 <= len && s.charAt(i + 6) == '\\' && s.charAt(i + 7) == 'u') {
              char low = hex4(i + 6);
              if (Character.isLowSurrogate(low)) {
                b.append(c).append(low);
                return i + 12;
              }
            }
            throw error(i, "lone surrogate escape \\u" + String.format("%04X", (int) c) + " in string");
          }
          if (Character.isLowSurrogate(c)) {
            throw error(i, "lone surrogate escape \\u" + String.format("%04X", (int) c) + " in string");
          }
          b.append(c);
          return i + 6;
        default:
          throw error(i, "invalid escape sequence \\" + describeChar(e));
      }
    }

    /** Reads the four hex digits of the \\u escape whose backslash is at index i. */
    private char hex4(int i) {
      if (i + 6 > len) {
        throw error(i, "truncated \\u escape");
      }
      int v = 0;
      for (int k = i + 2; k < i + 6; k++) {
        char c = s.charAt(k);
        int d;
        if (c >= '0' && c <= '9') {
          d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
          d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
          d = c - 'A' + 10;
        } else {
          throw error(k, "invalid hex digit " + describeAt(k) + " in \\u escape");
        }
        v = (v << 4) | d;
      }
      return (char) v;
    }

    private Object number() {
      int start = pos;
      boolean integral = true;
      if (s.charAt(pos) == '-') {
        pos++;
      }
      if (pos >= len || !isDigit(s.charAt(pos))) {
        throw error(pos, "unexpected " + describeAt(pos) + ", expected a digit in number");
      }
      if (s.charAt(pos) == '0') {
        pos++;
        if (pos < len && isDigit(s.charAt(pos))) {
          throw error(start, "leading zero in number");
        }
      } else {
        digits();
      }
      if (pos < len && s.charAt(pos) == '.') {
        integral = false;
        pos++;
        if (pos >= len || !isDigit(s.charAt(pos))) {
          throw error(pos, "unexpected " + describeAt(pos) + ", expected a digit after '.'");
        }
        digits();
      }
      if (pos < len && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
        integral = false;
        pos++;
        if (pos < len && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
          pos++;
        }
        if (pos >= len || !isDigit(s.charAt(pos))) {
          throw error(pos, "unexpected " + describeAt(pos) + ", expected a digit in exponent");
        }
        digits();
      }
      charge(NUMBER_BYTES);   // the token's substring is garbage once parsed
      String token = s.substring(start, pos);
      if (integral && token.length() <= 20) {
        try {
          return Long.parseLong(token);
        } catch (NumberFormatException tooBig) {
          // falls through to double
        }
      }
      double d = Double.parseDouble(token);
      if (Double.isInfinite(d)) {
        String shown = token.length() > 40 ? token.substring(0, 40) + "..." : token;
        throw error(start, "number " + shown + " is out of the range of a double");
      }
      return d;
    }

    private void digits() {
      while (pos < len && isDigit(s.charAt(pos))) {
        pos++;
      }
    }

    private static boolean isDigit(char c) {
      return c >= '0' && c <= '9';
    }

    String describeAt(int i) {
      if (i >= len) {
        return "end of input";
      }
      return describeChar(s.charAt(i));
    }

    static String describeChar(char c) {
      if (c >= 0x20 && c < 0x7f) {
        return "'" + c + "'";
      }
      return String.format("character U+%04X", (int) c);
    }

    String where(int offset) {
      int line = 1;
      int lineStart = 0;
      int end = Math.min(offset, len);
      for (int k = 0; k < end; k++) {
        if (s.charAt(k) == '\n') {
          line++;
          lineStart = k + 1;
        }
      }
      return "line " + line + ", column " + (offset - lineStart + 1) + " (offset " + offset + ")";
    }

    JsonException error(int offset, String problem) {
      return new JsonException(where(offset) + ": " + problem, offset);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writer

  private static void writeValue(StringBuilder out, Object v, boolean pretty, int depth) {
    if (v == null) {
      out.append("null");
    } else if (v instanceof CharSequence cs) {
      writeString(out, cs.toString());
    } else if (v instanceof Character ch) {
      writeString(out, String.valueOf(ch.charValue()));
    } else if (v instanceof Boolean bool) {
      out.append(bool.booleanValue() ? "true" : "false");
    } else if (v instanceof Number num) {
      writeNumber(out, num);
    } else if (v instanceof Map<?, ?> map) {
      enter(depth);
      writeObject(out, map, pretty, depth + 1);
    } else if (v instanceof Collection<?> coll) {
      enter(depth);
      writeArray(out, coll, pretty, depth + 1);
    } else if (v instanceof Object[] arr) {
      enter(depth);
      writeArray(out, java.util.Arrays.asList(arr), pretty, depth + 1);
    } else if (v instanceof long[] arr) {
      enter(depth);
      List<Object> list = new ArrayList<>(arr.length);
      for (long x : arr) {
        list.add(x);
      }
      writeArray(out, list, pretty, depth + 1);
    } else if (v instanceof int[] arr) {
      enter(depth);
      List<Object> list = new ArrayList<>(arr.length);
      for (int x : arr) {
        list.add(x);
      }
      writeArray(out, list, pretty, depth + 1);
    } else if (v instanceof double[] arr) {
      enter(depth);
      List<Object> list = new ArrayList<>(arr.length);
      for (double x : arr) {
        list.add(x);
      }
      writeArray(out, list, pretty, depth + 1);
    } else if (v instanceof float[] arr) {
      enter(depth);
      List<Object> list = new ArrayList<>(arr.length);
      for (float x : arr) {
        list.add(x);
      }
      writeArray(out, list, pretty, depth + 1);
    } else {
      throw new JsonException("cannot write a value of type " + v.getClass().getName() + " as JSON");
    }
  }

  private static void enter(int depth) {
    if (depth + 1 > MAX_DEPTH) {
      throw new JsonException(
          "cannot write JSON nested deeper than " + MAX_DEPTH + " levels (is there a cycle?)");
    }
  }

  private static void writeNumber(StringBuilder out, Number num) {
    if (num instanceof Long
        || num instanceof Integer
        || num instanceof Short
        || num instanceof Byte
        || num instanceof BigInteger
        || num instanceof AtomicInteger
        || num instanceof AtomicLong) {
      out.append(num.toString());
    } else if (num instanceof Double || num instanceof Float) {
      double d = num.doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new JsonException("cannot write " + num + " as JSON (NaN and infinities are not JSON)");
      }
      // Float.toString keeps a float's shortest text; both forms are valid JSON numbers.
      out.append(num instanceof Float f ? Float.toString(f) : Double.toString(d));
    } else if (num instanceof BigDecimal bd) {
      out.append(bd.toString());
    } else {
      throw new JsonException("cannot write a number of type " + num.getClass().getName() + " as JSON");
    }
  }

  private static void writeObject(StringBuilder out, Map<?, ?> map, boolean pretty, int depth) {
    if (map.isEmpty()) {
      out.append("{}");
      return;
    }
    out.append('{');
    boolean first = true;
    for (Map.Entry<?, ?> e : map.entrySet()) {
      if (!(e.getKey() instanceof String key)) {
        Object k = e.getKey();
        throw new JsonException(
            "cannot write a map key of type "
                + (k == null ? "null" : k.getClass().getName())
                + " as JSON (keys must be strings)");
      }
      if (!first) {
        out.append(',');
      }
      first = false;
      newline(out, pretty, depth);
      writeString(out, key);
      out.append(pretty ? ": " : ":");
      writeValue(out, e.getValue(), pretty, depth);
    }
    newline(out, pretty, depth - 1);
    out.append('}');
  }

  private static void writeArray(StringBuilder out, Collection<?> items, boolean pretty, int depth) {
    if (items.isEmpty()) {
      out.append("[]");
      return;
    }
    out.append('[');
    boolean first = true;
    for (Object item : items) {
      if (!first) {
        out.append(',');
      }
      first = false;
      newline(out, pretty, depth);
      writeValue(out, item, pretty, depth);
    }
    newline(out, pretty, depth - 1);
    out.append(']');
  }

  private static void newline(StringBuilder out, boolean pretty, int depth) {
    if (pretty) {
      out.append('\n');
      for (int i = 0; i < depth; i++) {
        out.append("  ");
      }
    }
  }

  private static void writeString(StringBuilder out, String s) {
    out.append('"');
    int n = s.length();
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else if (Character.isHighSurrogate(c)
              && i + 1 < n
              && Character.isLowSurrogate(s.charAt(i + 1))) {
            out.append(c).append(s.charAt(i + 1));
            i++;
          } else if (Character.isSurrogate(c)) {
            throw new JsonException(
                "cannot write a string with a lone surrogate "
                    + String.format("U+%04X", (int) c)
                    + " at index "
                    + i
                    + " as JSON");
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }
}
