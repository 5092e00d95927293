"""DVC stage `prepare`: validated parquet per series, split dates, data report."""

from cryptocast import layout
from cryptocast.config import DataConfig, SplitConfig, load_params, symbols_from_params
from cryptocast.data.prepare import prepare

if __name__ == "__main__":
    params = load_params()
    prepare(DataConfig.from_params(params), SplitConfig.from_params(params),
            symbols_from_params(params), out_dir=layout.PREPARED,
            report_path=layout.DATA_REPORT)
