/**
 * The DL4J layer configuration of a LoKR-adapted layer, {@link dev.lokr.dl4j.conf.LokrLayer}: a base
 * layer configuration plus the adapter options as plain, Jackson-serializable fields.
 */
package dev.lokr.dl4j.conf;
