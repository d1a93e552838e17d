"""Published group-sequential boundaries (two-sided, α = 0.05, equally spaced looks, z scale).

Not computed by opsnb: copied from the sources named below, so that the recursive numerical
integration in ``opsnb/abtest_groupseq.py`` is checked against independent implementations.
"""

# Jennison & Turnbull (2000), "Group Sequential Methods with Applications to Clinical Trials",
# Table 2.1: Pocock constants C_P(K, α = 0.05) — reject at look k when |Z_k| ≥ C_P.
POCOCK_CP = {1: 1.960, 2: 2.178, 3: 2.289, 4: 2.361, 5: 2.413, 10: 2.555}

# Same book, Table 2.3: O'Brien–Fleming constants C_B(K, α = 0.05) — reject at look k when
# |Z_k| ≥ C_B √(K / k); the final boundary equals C_B.
OBF_CB = {1: 1.960, 2: 1.977, 3: 2.004, 4: 2.024, 5: 2.040, 10: 2.087}

# Lan–DeMets O'Brien–Fleming-type spending, K = 5 equal looks, two-sided α = 0.05 (each side
# α/2 = 0.025 with α'(t) = 2 − 2Φ(z_{1−α'/2}/√t)): DeMets & Lan (1994), Stat. Med. 13:1341,
# Table I; identical to gsDesign::gsDesign(k=5, test.type=2, alpha=0.025, sfu=sfLDOF)$upper$bound
# and rpact getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asOF").
LD_OBF_K5 = (4.877, 3.357, 2.680, 2.290, 2.031)

# Lan–DeMets Pocock-type spending α log(1 + (e − 1) t), K = 5 equal looks, two-sided α = 0.05:
# gsDesign::gsDesign(k=5, test.type=2, alpha=0.025, sfu=sfLDPocock)$upper$bound and rpact
# typeOfDesign="asP" (2.4380, 2.4268, 2.4101, 2.3966, 2.3859). R is not installed here: the
# gsDesign/rpact numbers are quoted from their documented output, not re-run.
LD_POCOCK_K5 = (2.438, 2.427, 2.410, 2.397, 2.386)
