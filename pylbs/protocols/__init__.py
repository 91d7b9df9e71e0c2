"""The paper's MD protocols.

Data (the "protocol" layer of the data flow, below the LAMMPS session):

    schedules.py   stages and schedules of every protocol, the command blocks around them,
                   and the one place a stage becomes LAMMPS commands
    decks.py       the raw decks of lammps_inputs/, rendered from the same schedules

Drivers (each on top of the session and the analyses, through runner.py):

    runner.py      request -> identical finished run? -> Session -> rank-0 analysis -> summary.json
    melt_quench.py the FMP melt-quench
    mlp_quench.py  the DeepMD stage (remelt, fast/anneal cooling, 300 K, Emin; replicas)
    guard.py       the unphysical-event guard of MLP runs (closest approach, model deviation)
    tg.py          heating runs and the fold of PE(T)
    diffusion.py   constant-T runs, MSD, D, C_Li*D, Arrhenius Ea

This file imports nothing, so ``pylbs.protocols.schedules`` stays free of LAMMPS.
"""
