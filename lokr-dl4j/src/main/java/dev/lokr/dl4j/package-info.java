/**
 * LoKR adapters for DL4J networks: {@link dev.lokr.dl4j.LokrNetworks#apply} adds adapters to the layers
 * picked by {@link dev.lokr.dl4j.Targets}, and {@link dev.lokr.dl4j.LokrNetwork} snapshots, loads,
 * switches, merges, reports, saves and loads them (adapter files in the LyCORIS or PEFT layout, through
 * {@code dev.lokr.io}; a Python-trained adapter loads with {@code LokrNetworks.apply(net, AdapterFile)}).
 *
 * <p>The maths is in {@code lokr-core} ({@code dev.lokr.math}); this package and its sub-packages only
 * plug it into DL4J: {@code conf} (the serializable layer configuration), {@code layers} (the runtime
 * layers) and {@code params} (the parameter layout).
 */
package dev.lokr.dl4j;
