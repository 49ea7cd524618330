// How Athena (engine v3) reads a string into a `timestamp` column of a table using the Hive JSON
// SerDe, with the libraries Athena's reader uses: Joda-Time for the table's `timestamp.formats`
// (Trino's HiveFormatUtils.createTimestampParser), then java.time for Hive's default and ISO
// forms, then millisecond precision (Trino's timestamp(3) encoder, rounding half up).
//
// Run by the test suite (tests/it/ddl_conformance.rs) as
//   java -cp <joda-time.jar> tests/athena/AthenaTimestamps.java
// Input on stdin: the `timestamp.formats` property value on the first line, then one value a line.
// Output: one line a value: `joda <micros>`, `default <micros>`, `iso <micros>` or `fail`, where
// <micros> is the UTC instant in microseconds since the epoch, at millisecond precision.
// A pattern Joda-Time refuses ends the program with status 3 and its message on stderr.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.ResolverStyle;
import java.time.format.SignStyle;
import java.util.ArrayList;
import java.util.List;

import org.joda.time.DateTime;
import org.joda.time.MutableDateTime;
import org.joda.time.chrono.ISOChronology;
import org.joda.time.format.DateTimeFormat;
import org.joda.time.format.DateTimeFormatter;
import org.joda.time.format.DateTimeParser;

import static java.time.temporal.ChronoField.DAY_OF_MONTH;
import static java.time.temporal.ChronoField.HOUR_OF_DAY;
import static java.time.temporal.ChronoField.MINUTE_OF_HOUR;
import static java.time.temporal.ChronoField.MONTH_OF_YEAR;
import static java.time.temporal.ChronoField.NANO_OF_SECOND;
import static java.time.temporal.ChronoField.SECOND_OF_MINUTE;
import static java.time.temporal.ChronoField.YEAR;

public class AthenaTimestamps {
    private static final java.time.format.DateTimeFormatter DEFAULT_PARSER = new DateTimeFormatterBuilder()
            .parseCaseInsensitive()
            .parseLenient()
            .appendValue(YEAR, 1, 10, SignStyle.NORMAL)
            .appendLiteral('-')
            .appendValue(MONTH_OF_YEAR, 1, 2, SignStyle.NORMAL)
            .appendLiteral('-')
            .appendValue(DAY_OF_MONTH, 1, 2, SignStyle.NORMAL)
            .optionalStart()
            .appendLiteral(" ")
            .appendValue(HOUR_OF_DAY, 1, 2, SignStyle.NORMAL)
            .appendLiteral(':')
            .appendValue(MINUTE_OF_HOUR, 1, 2, SignStyle.NORMAL)
            .appendLiteral(':')
            .appendValue(SECOND_OF_MINUTE, 1, 2, SignStyle.NORMAL)
            .optionalStart().appendFraction(NANO_OF_SECOND, 1, 9, true).optionalEnd()
            .optionalEnd()
            .toFormatter()
            .withResolverStyle(ResolverStyle.LENIENT);

    private static final java.time.format.DateTimeFormatter ISO_PARSER = new DateTimeFormatterBuilder()
            .parseCaseInsensitive()
            .parseLenient()
            .append(java.time.format.DateTimeFormatter.ISO_LOCAL_DATE_TIME)
            .toFormatter()
            .withResolverStyle(ResolverStyle.LENIENT);

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(System.out, false, StandardCharsets.UTF_8);
        String property = in.readLine();
        if (property == null) {
            System.err.println("no timestamp.formats line on stdin");
            System.exit(2);
        }
        List<String> formats = split(property);
        DateTimeParser[] parsers = new DateTimeParser[formats.size()];
        for (int i = 0; i < formats.size(); i++) {
            try {
                parsers[i] = DateTimeFormat.forPattern(formats.get(i)).getParser();
            }
            catch (IllegalArgumentException e) {
                System.err.println("Joda-Time refuses pattern `" + formats.get(i) + "`: " + e.getMessage());
                System.exit(3);
            }
        }
        DateTimeFormatter joda = formats.isEmpty() ? null : new org.joda.time.format.DateTimeFormatterBuilder()
                .append(null, parsers)
                .toFormatter()
                .withDefaultYear(1970);
        String line;
        while ((line = in.readLine()) != null) {
            out.println(read(joda, line.trim()));
        }
        out.flush();
    }

    private static String read(DateTimeFormatter joda, String value) {
        if (joda != null) {
            try {
                MutableDateTime dateTime = new MutableDateTime(
                        new DateTime(1970, 1, 1, 0, 0, 0, 0, ISOChronology.getInstanceUTC()),
                        ISOChronology.getInstanceUTC());
                int parsed = joda.parseInto(dateTime, value, 0);
                if (parsed == value.length()) {
                    long millis = dateTime.getMillis();
                    return "joda " + micros(Math.floorDiv(millis, 1000L), (int) Math.floorMod(millis, 1000L) * 1_000_000);
                }
            }
            catch (Exception e) {
                // as Trino: fall back to the default forms
            }
        }
        try {
            LocalDateTime t = LocalDateTime.parse(value, DEFAULT_PARSER);
            return "default " + micros(t.toEpochSecond(ZoneOffset.UTC), t.getNano());
        }
        catch (Exception e) {
            // then ISO
        }
        try {
            LocalDateTime t = LocalDateTime.parse(value, ISO_PARSER);
            return "iso " + micros(t.toEpochSecond(ZoneOffset.UTC), t.getNano());
        }
        catch (Exception e) {
            return "fail";
        }
    }

    /// Trino's timestamp(3) encoder: nanoseconds rounded half up to milliseconds.
    private static long micros(long epochSeconds, int nanos) {
        long rounded = (nanos + 500_000L) / 1_000_000L * 1_000_000L;
        return epochSeconds * 1_000_000L + rounded / 1_000L;
    }

    /// Trino's getTimestampFormatsSchemaProperty: commas separate, `\` escapes `,` and `\`.
    private static List<String> split(String property) {
        List<String> result = new ArrayList<>();
        StringBuilder buffer = new StringBuilder();
        for (int i = 0; i < property.length(); i++) {
            char c = property.charAt(i);
            if (c == '\\' && i + 1 < property.length()) {
                buffer.append(property.charAt(++i));
            }
            else if (c == ',') {
                if (buffer.length() > 0) {
                    result.add(buffer.toString());
                    buffer.setLength(0);
                }
            }
            else {
                buffer.append(c);
            }
        }
        if (buffer.length() > 0) {
            result.add(buffer.toString());
        }
        return result;
    }
}
