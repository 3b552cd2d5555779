/**
 * The parameter layout of a LoKR layer: the base layer's parameters, then the adapter tensors as views
 * of the flat parameter vector.
 */
package dev.lokr.dl4j.params;
