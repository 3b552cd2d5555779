package dev.lokr;

import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.Factorization;
import dev.lokr.math.LokrLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LokrAdapterTest {

    @Test
    void defaultsAreLycorisModuleDefaults() {
        LokrAdapter a = LokrAdapter.builder().build();
        assertEquals(4, a.rank());
        assertEquals(1.0, a.alpha());
        assertEquals(-1, a.factor());
        assertEquals(1.0, a.multiplier());
        assertEquals(0.0, a.rankDropout());
        assertEquals(0.0, a.moduleDropout());
        assertEquals(false, a.decomposeBoth() || a.tucker() || a.scalar() || a.dora() || a.doraOnInput()
                || a.detachNorm() || a.rsLora() || a.fullMatrix() || a.unbalancedFactorization() || a.rankDropoutScale());
    }

    @Test
    void toBuilderEqualsHashCodeToString() {
        LokrAdapter a = LokrAdapter.builder().rank(8).alpha(16).decomposeBoth(true).dora(true).doraOnInput(true)
                .multiplier(0.5).seed(3).build();
        LokrAdapter b = a.toBuilder().build();
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, a.toBuilder().rank(9).build());
        assertTrue(a.toString().contains("rank=8") && a.toString().contains("doraOnInput=true"), a.toString());
        // -0.0 means what 0.0 means, so it is equal to it
        LokrAdapter zero = LokrAdapter.builder().alpha(0.0).multiplier(0.0).build();
        LokrAdapter negativeZero = LokrAdapter.builder().alpha(-0.0).multiplier(-0.0).build();
        assertEquals(zero, negativeZero);
        assertEquals(zero.hashCode(), negativeZero.hashCode());
    }

    private static void assertRefused(Consumer<LokrAdapter.Builder> setter, String... fragments) {
        LokrAdapter.Builder b = LokrAdapter.builder();
        setter.accept(b);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    @Test
    void everyValidationMessageNamesOptionRuleAndValue() {
        assertRefused(b -> b.rank(0), "rank", ">= 1", "0");
        assertRefused(b -> b.rank(-3), "rank", "-3");
        assertRefused(b -> b.factor(0), "factor", "-1", "positive", "0");
        assertRefused(b -> b.factor(-2), "factor", "-2");
        assertRefused(b -> b.alpha(Double.NaN), "alpha", "finite", "NaN");
        assertRefused(b -> b.alpha(Double.POSITIVE_INFINITY), "alpha", "Infinity");
        assertRefused(b -> b.alpha(-1), "alpha", ">= 0", "-1.0");
        assertRefused(b -> b.rankDropout(1.0), "rankDropout", "[0, 1)", "1.0");
        assertRefused(b -> b.rankDropout(-0.1), "rankDropout", "-0.1");
        assertRefused(b -> b.moduleDropout(1.5), "moduleDropout", "[0, 1)", "1.5");
        assertRefused(b -> b.moduleDropout(Double.NaN), "moduleDropout", "NaN");
        assertRefused(b -> b.multiplier(Double.NaN), "multiplier", "finite", "NaN");
        assertRefused(b -> b.doraOnInput(true), "doraOnInput", "dora");
        assertRefused(b -> b.detachNorm(true), "detachNorm", "dora");
    }

    @Test
    void layoutRefusesBadShapes() {
        LokrAdapter a = LokrAdapter.builder().build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.layoutFor(4, 4, 3));
        assertTrue(e.getMessage().contains("[4, 4, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.layoutFor(0, 4));
        assertTrue(e.getMessage().contains("[0, 4]"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"4096,-1,64,64", "768,-1,24,32", "320,-1,16,20", "360,-1,18,20", "127,-1,1,127", "11008,-1,86,128",
        "6144,-1,64,96", "768,8,8,96", "768,64,12,64", "360,16,15,24", "1,-1,1,1", "2,-1,1,2", "12,1,1,12", "12,5,3,4"})
    void factorizationWorkedValues(int dim, int factor, int m, int n) {
        assertArrayEquals(new int[] {m, n}, Factorization.factorize(dim, factor), dim + " factor " + factor);
    }

    @Test
    void factorizationAgreesWithBruteForceBelow3000() {
        for (int factor : new int[] {-1, 1, 2, 3, 4, 7, 8, 16, 64}) {
            for (int dim = 1; dim < 3000; dim++) {
                int[] got = Factorization.factorize(dim, factor);
                assertEquals(dim, got[0] * got[1], "dim " + dim + " factor " + factor);
                assertTrue(got[0] <= got[1], "dim " + dim);
                assertArrayEquals(dev.lokr.math.LokrPropertyTestAccess.bruteFactor(dim, factor), got,
                        "dim " + dim + " factor " + factor);
            }
        }
    }

    @Test
    void layoutOfAWorkedExample() {
        LokrLayout l = LokrAdapter.builder().rank(4).alpha(2).tucker(true).build().layoutFor(256, 128, 3, 3);
        assertEquals(16, l.a());
        assertEquals(16, l.b());
        assertEquals(8, l.c());
        assertEquals(16, l.d());
        assertEquals(FactorMode.FULL, l.w1Mode());
        assertEquals(FactorMode.TUCKER, l.w2Mode());
        assertEquals(0.5, l.scale());
        assertEquals(DoraAxis.NONE, l.doraAxis());
        assertArrayEquals(new long[] {4, 4, 3, 3}, l.shapeOf(dev.lokr.math.LokrParam.T2));
    }
}
