package dev.lokr.dl4j;

import dev.lokr.dl4j.conf.LokrLayer;
import org.deeplearning4j.nn.conf.layers.Layer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Which layers of a network get a LoKR adapter. Immutable.
 *
 * <p>A layer is targeted when its name fully matches one of the name patterns, <em>or</em> its
 * configuration is an instance of one of the types, and its name matches none of the exclusions:
 * <pre>{@code
 * Targets.names("dense_.*").orTypes(ConvolutionLayer.class)   // dense_* layers and every convolution
 * Targets.types(DenseLayer.class).excluding("head")            // every DenseLayer but "head"
 * Targets.all()                                                 // every layer LoKR supports
 * }</pre>
 * A layer picked by name or type that LoKR does not support is an error when the targets are applied;
 * {@link #all()} picks only supported layers. The type is the one in the network's configuration: a dense
 * layer inside {@code TimeDistributed} or {@code FrozenLayer} is a {@code TimeDistributed} or a
 * {@code FrozenLayer}, which LoKR does not support.
 */
public final class Targets {

    private final List<Pattern> names;
    private final List<Class<? extends Layer>> types;
    private final List<Pattern> excluded;
    private final boolean all;

    private Targets(List<Pattern> names, List<Class<? extends Layer>> types, List<Pattern> excluded, boolean all) {
        this.names = Collections.unmodifiableList(names);
        this.types = Collections.unmodifiableList(types);
        this.excluded = Collections.unmodifiableList(excluded);
        this.all = all;
    }

    /**
     * @param regexes layer-name patterns (full match), at least one
     * @return the layers whose names match any of them
     * @throws IllegalArgumentException if none is given or one is not a valid regex
     */
    public static Targets names(String... regexes) {
        return new Targets(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), false).orNames(regexes);
    }

    /**
     * @param types layer configuration classes (subclasses included), at least one
     * @return the layers whose configurations are instances of any of them
     * @throws IllegalArgumentException if none is given
     */
    @SafeVarargs
    public static Targets types(Class<? extends Layer>... types) {
        return new Targets(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), false).orTypes(types);
    }

    /** @return every layer whose type LoKR supports (see {@link LokrLayer#unsupportedReason}) */
    public static Targets all() {
        return new Targets(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), true);
    }

    /**
     * @param regexes more layer-name patterns (full match), at least one
     * @return these targets plus the layers whose names match any of them
     */
    public Targets orNames(String... regexes) {
        List<Pattern> more = compile("names", regexes);
        List<Pattern> n = new ArrayList<>(names);
        n.addAll(more);
        return new Targets(n, new ArrayList<>(types), new ArrayList<>(excluded), all);
    }

    /**
     * @param moreTypes more layer configuration classes, at least one
     * @return these targets plus the layers of those types
     */
    @SafeVarargs
    public final Targets orTypes(Class<? extends Layer>... moreTypes) {
        if (moreTypes == null || moreTypes.length == 0) {
            throw new IllegalArgumentException("types needs at least one layer class, got none");
        }
        List<Class<? extends Layer>> t = new ArrayList<>(types);
        for (Class<? extends Layer> c : moreTypes) {
            t.add(Objects.requireNonNull(c, "type"));
        }
        return new Targets(new ArrayList<>(names), t, new ArrayList<>(excluded), all);
    }

    /**
     * @param regexes layer-name patterns (full match) to leave out, at least one
     * @return these targets without the layers whose names match any of them
     */
    public Targets excluding(String... regexes) {
        List<Pattern> e = new ArrayList<>(excluded);
        e.addAll(compile("excluding", regexes));
        return new Targets(new ArrayList<>(names), new ArrayList<>(types), e, all);
    }

    private static List<Pattern> compile(String what, String... regexes) {
        if (regexes == null || regexes.length == 0) {
            throw new IllegalArgumentException(what + " needs at least one layer-name regex, got none");
        }
        List<Pattern> out = new ArrayList<>();
        for (String r : regexes) {
            out.add(Pattern.compile(Objects.requireNonNull(r, "regex")));
        }
        return out;
    }

    /**
     * Whether a layer is targeted.
     *
     * @param name  the layer's name
     * @param layer its configuration
     * @return true if targeted (it may still be unsupported, unless the targets are {@link #all()})
     */
    public boolean matches(String name, Layer layer) {
        for (Pattern p : excluded) {
            if (p.matcher(name).matches()) {
                return false;
            }
        }
        if (all && LokrLayer.unsupportedReason(layer) == null) {
            return true;
        }
        for (Pattern p : names) {
            if (p.matcher(name).matches()) {
                return true;
            }
        }
        for (Class<? extends Layer> t : types) {
            if (t.isInstance(layer)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Targets)) {
            return false;
        }
        Targets t = (Targets) o;
        return all == t.all && patterns(names).equals(patterns(t.names)) && types.equals(t.types)
                && patterns(excluded).equals(patterns(t.excluded));
    }

    @Override
    public int hashCode() {
        return Objects.hash(patterns(names), types, patterns(excluded), all);
    }

    private static List<String> patterns(List<Pattern> ps) {
        return ps.stream().map(Pattern::pattern).collect(Collectors.toList());
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        if (all) {
            parts.add("all supported");
        }
        if (!names.isEmpty()) {
            parts.add("names=" + patterns(names));
        }
        if (!types.isEmpty()) {
            parts.add("types=" + Arrays.toString(types.stream().map(Class::getSimpleName).toArray()));
        }
        if (!excluded.isEmpty()) {
            parts.add("excluding=" + patterns(excluded));
        }
        return "Targets{" + String.join(", ", parts) + "}";
    }
}
