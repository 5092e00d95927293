"""DVC stage `improved_configs`: the plan's candidate configs (phase 1.1-1.3) as
hyperparams/crypto_improved/<SYMBOL>_configN.json, from params `improved`."""

from cryptocast import layout
from cryptocast.config import load_params
from cryptocast.tuning.improved import all_plans, write_candidate_files

if __name__ == "__main__":
    for path in write_candidate_files(all_plans(load_params()), layout.IMPROVED_CONFIGS):
        print(f"wrote {path}")
