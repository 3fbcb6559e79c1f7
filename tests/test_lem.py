"""LEM merit order: hand-worked cases (ties, exact capacity steps) and the PuLP LP on random instances."""

import numpy as np
import pulp
import pytest

from model.markets.lem import (
    clear_lem,
    MeritOrder,
    clear_lem_pulp,
    lem_costs_eur,
    lem_system_cost,
)

IMP, EXP = 50.0, 45.0


def one(offer, cost, demand, imp=IMP, exp=EXP):
    r = clear_lem(np.array(offer, float), np.array(cost, float), np.array(demand, float), imp, exp)
    return r.p_gen_mw, float(r.p_import_mw), float(r.p_export_mw), float(r.price_eur_mwh)


def test_cheap_surplus_is_exported_at_export_price():
    # 10 + 5 MW below the export price, demand 8: both run fully, 7 MW exported, price = export price
    gen, imp, exp, price = one([10, 5], [10, 40], [4, 4])
    assert gen.tolist() == [10, 5] and imp == 0 and exp == 7 and price == EXP


def test_mid_unit_is_marginal_and_sets_price():
    # cheap 2 MW, mid units at 46 (3 MW) and 48 (3 MW); demand 6 -> 2 + 3 + 1; price 48
    gen, imp, exp, price = one([2, 3, 3], [0, 46, 48], [2, 2, 2])
    assert gen.tolist() == [2, 3, 1] and imp == 0 and exp == 0 and price == 48


def test_exact_capacity_step_price_is_next_mw():
    # demand 5 = 2 + 3 exactly: the next MW would come from the 48 unit -> price 48 (upper end)
    gen, imp, exp, price = one([2, 3, 3], [0, 46, 48], [5, 0, 0])
    assert gen.tolist() == [2, 3, 0] and price == 48
    # all mid units exhausted exactly: next MW is imported
    gen, imp, exp, price = one([2, 3, 3], [0, 46, 48], [8, 0, 0])
    assert gen.tolist() == [2, 3, 3] and imp == 0 and price == IMP
    # cheap supply exactly meets demand, no mid units: next MW imported; no export
    gen, imp, exp, price = one([4, 3], [0, 60], [4, 0])
    assert gen.tolist() == [4, 0] and exp == 0 and imp == 0 and price == IMP


def test_shortage_is_imported_and_expensive_units_never_run():
    gen, imp, exp, price = one([1, 5], [47, 50.0], [3, 3])  # cost 50 == import price: import instead
    assert gen.tolist() == [1, 0] and imp == 5 and price == IMP


def test_ties_share_pro_rata():
    # two units at 46 (2 MW and 6 MW) share 4 MW of residual demand in proportion to their offers
    gen, imp, exp, price = one([2, 6], [46, 46], [2, 2])
    np.testing.assert_allclose(gen, [1, 3])
    assert price == 46
    # a unit exactly at the export price runs fully (we export)
    gen, imp, exp, price = one([3], [EXP], [1])
    assert gen.tolist() == [3] and exp == 2 and price == EXP


def test_vectorised_equals_hour_by_hour():
    rng = np.random.default_rng(3)
    H, N = 50, 10
    offer, cost, demand = rng.uniform(0, 2, (H, N)), rng.uniform(30, 70, N), rng.uniform(0, 1.5, (H, N))
    imp = rng.uniform(40, 80, H)
    exp = 0.9 * imp
    batch = clear_lem(offer, cost, demand, imp, exp)
    for t in range(H):
        r = clear_lem(offer[t], cost, demand[t], imp[t], exp[t])
        np.testing.assert_array_equal(r.p_gen_mw, batch.p_gen_mw[t])
        assert r.price_eur_mwh == batch.price_eur_mwh[t]


@pytest.mark.parametrize("seed", range(4))
def test_merit_order_matches_pulp_lp(seed):
    """Same optimal cost as the LP; the price lies within the LP's interval of valid duals."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n = 10
        offer = rng.uniform(0, 2, n) * (rng.random(n) > 0.2)
        cost = np.round(rng.uniform(20, 80, n), 0)  # rounded: ties happen
        demand = rng.uniform(0, 1.5, n)
        imp = float(rng.uniform(40, 90))
        exp = 0.9 * imp
        ours = clear_lem(offer, cost, demand, imp, exp)
        ref = clear_lem_pulp(offer, cost, demand, imp, exp)
        assert lem_system_cost(ours, cost, imp, exp) == pytest.approx(float(lem_system_cost(ref, cost, imp, exp)), abs=1e-7)
        # valid duals: the price is between the cost of the last MW and the cost of the next MW
        eps = 1e-4
        up = clear_lem(offer, cost, demand.sum() + eps, imp, exp)
        dn = clear_lem(offer, cost, max(demand.sum() - eps, 0), imp, exp)
        d_up = (lem_system_cost(up, cost, imp, exp) - lem_system_cost(ours, cost, imp, exp)) / eps
        d_dn = (lem_system_cost(ours, cost, imp, exp) - lem_system_cost(dn, cost, imp, exp)) / eps
        assert d_dn - 1e-6 <= float(ref.price_eur_mwh) <= d_up + 1e-6
        assert float(ours.price_eur_mwh) == pytest.approx(float(d_up), abs=1e-4)  # our rule: the next MW


def test_pulp_cbc_reference_agrees():
    offer, cost, demand = np.array([2.0, 3, 3]), np.array([0.0, 46, 48]), np.array([2.0, 2, 2])
    r = clear_lem_pulp(offer, cost, demand, IMP, EXP, solver=pulp.PULP_CBC_CMD(msg=False))
    np.testing.assert_allclose(r.p_gen_mw, [2, 3, 1], atol=1e-7)
    assert float(r.price_eur_mwh) == pytest.approx(48)


def test_lem_cost_and_truthful_reference_by_hand():
    # aggregator 0: 2 MW at 0 €/MWh, demand 1; aggregator 1: 3 MW at 48, demand 4. Import 50, export 45.
    offer_true = np.array([2.0, 3.0])
    cost, demand = np.array([0.0, 48.0]), np.array([1.0, 4.0])
    r = clear_lem(offer_true, cost, demand, IMP, EXP)  # gen [2, 3], price 50 (next MW imported)
    assert float(r.price_eur_mwh) == 50
    np.testing.assert_allclose(lem_costs_eur(r.p_gen_mw, demand, cost, r.price_eur_mwh), [0 + 50 * (1 - 2), 48 * 3 + 50 * 1])
    # aggregator 1 withholds everything: it imports 3 MW more; price stays at import price
    offer = np.array([2.0, 0.0])
    w, ref = MeritOrder(cost).clear_with_references(offer, offer_true, demand, IMP, EXP)
    np.testing.assert_allclose(ref, [-50.0, 48 * 3 + 50 * 1])  # both as if aggregator k had bid truthfully
    own = lem_costs_eur(w.p_gen_mw, demand, cost, w.price_eur_mwh)
    assert own[1] - ref[1] == pytest.approx(4 * 50 - (48 * 3 + 50))  # r1 = ref - cost = -6 €


def test_rejects_export_above_import_and_negative_offers():
    with pytest.raises(ValueError, match="export price exceeds import"):
        clear_lem(np.array([1.0]), np.array([1.0]), np.array([1.0]), 40.0, 41.0)
    with pytest.raises(ValueError, match=">= 0"):
        clear_lem(np.array([-1.0]), np.array([1.0]), np.array([1.0]), 40.0, 30.0)
