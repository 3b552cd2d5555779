/**
 * LoKR adapters for DL4J networks: {@link dev.lokr.dl4j.LokrNetworks#apply} adds adapters to the layers
 * picked by {@link dev.lokr.dl4j.Targets}, and {@link dev.lokr.dl4j.LokrNetwork} snapshots, loads,
 * switches, merges and reports them.
 *
 * <p>The maths is in {@code lokr-core} ({@code dev.lokr.math}); this package and its sub-packages only
 * plug it into DL4J: {@code conf} (the serializable layer configuration), {@code layers} (the runtime
 * layers) and {@code params} (the parameter layout).
 */
package dev.lokr.dl4j;
