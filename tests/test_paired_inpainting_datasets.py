"""The paired-inpainting chapter's data entry point, on tiny files written in each real format.

The writers come from the readers' own tests (module-level functions), so a format changed there
is changed here too. Every test runs offline on its own cache (conftest's autouse fixture).
"""
import zipfile

import pytest
import torch
from PIL import Image
from test_pci_readers import CLASSES, hpa_field, write_chong, write_yeast

import cellnb.papers.paired_inpainting.datasets as datasets
from cellnb.data.cache import cached_imageset
from cellnb.data.pci_readers import read_yeast_tiff_pairs
from cellnb.data.registry import ManualDownloadRequired
from cellnb.papers.paired_inpainting.data import EvaluationCells, InpaintingData
from cellnb.papers.paired_inpainting.datasets import (
    CHAPTER_DATASETS,
    ChapterData,
    load_chapter_data,
)
from cellnb.sim import AtlasConfig

# 36 proteins is the catalogue's minimum; 3 small fields each so every protein reaches every part.
TINY_ATLAS = AtlasConfig(n_proteins=36, fields_per_protein=3, rare_fields=3, crop_size=32,
                         field_size=200, cells_per_field=16, crops_per_field=16)
# 4 proteins x 4 fields x 5 cells of 8 px: 16 images, every protein in every part; and one
# sparse field of 2 cells, which min_cells=3 drops.
YEAST_LAYOUT = {protein: {field: 5 for field in range(1, 5)}
                for protein in ("AAC1", "AAC3", "AAH1", "AAR2")}
YEAST_LAYOUT["AAR2"][9] = 2


def disjoint_images(data: ChapterData) -> bool:
    trained = set(data.train.metadata["image"].iloc[data.train.parts["train"]])
    return trained.isdisjoint(data.evaluation.metadata["image"])


def write_toy_yeast(data_dir):
    return write_yeast(data_dir / "pci_toy_dataset" / "yeast", YEAST_LAYOUT)


# ----------------------------------------------------------------------------------- synthetic

def test_synthetic_trains_and_scores_on_different_fields_and_caches_them():
    data = load_chapter_data("synthetic", fields_config=TINY_ATLAS, min_cells=3, output_size=16,
                             progress=False)
    assert isinstance(data.train, InpaintingData) and isinstance(data.evaluation, EvaluationCells)
    assert data.train.channels == ("protein", "nucleus", "cell_marker")
    assert data.train.crops.shape[1:] == (3, 16, 16)
    assert data.evaluation.crops.shape[1:] == (3, 16, 16) and len(data.evaluation) > 0
    assert disjoint_images(data) and data.labelled_evaluation
    assert data.fields_config is TINY_ATLAS and data.fields_path.is_file()
    assert data.description.startswith("synthetic: 108 simulated fields")

    # the loader's cache key is the atlas's own: a second call (or another chapter) reads it
    def no_simulation():
        raise AssertionError("the fields should come from the cache")

    assert cached_imageset("atlas-fields", TINY_ATLAS.cache_config(),
                           no_simulation) == data.fields_path


# --------------------------------------------------------------------------------------- yeast

def test_yeast_tiffs_alone_give_unlabelled_test_images(tmp_path):
    write_toy_yeast(tmp_path)
    data = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, output_size=4)
    assert data.train.channels == ("protein", "marker")
    assert data.train.crops.shape == (80, 2, 4, 4)
    assert data.train.metadata["image"].nunique() == 16 and data.train.n_dropped_images == 1
    assert list(data.train.dropped_images) == ["AAR2_9"]
    assert all(len(p) for p in data.train.parts.values()) and disjoint_images(data)
    assert not data.labelled_evaluation and data.evaluation.metadata["label"].isna().all()
    assert "unlabelled" in data.description and "resized to 4 px" in data.description
    # write_yeast's pixel is 1000 * protein + 100 * field + cell (+ 0.5 in RFP): GFP stays first
    first = data.train.metadata.iloc[0]
    assert (first["protein"], first["field"], first["cell"]) == ("AAC1", "1", "0")
    assert torch.allclose(data.train.crops[0, :, 0, 0], torch.tensor([100.0, 100.5]))


def test_yeast_can_pair_by_protein_and_keep_whole_images_up_to_max_cells(tmp_path):
    write_toy_yeast(tmp_path)
    by_protein = load_chapter_data("yeast", data_dir=tmp_path, min_cells=6,
                                   yeast_image="protein")
    assert by_protein.train.metadata["image"].nunique() == 4 and disjoint_images(by_protein)
    assert by_protein.train.n_dropped_images == 0 and len(by_protein.train.crops) == 82
    limited = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, max_cells=40)
    assert len(limited.train.crops) == 40 and limited.train.metadata["image"].nunique() == 8
    with pytest.raises(ValueError, match="too few to split by image"):
        load_chapter_data("yeast", data_dir=tmp_path, min_cells=6, yeast_image="protein",
                          max_cells=21)


def test_yeast_is_scored_on_the_chong_cells_when_their_hdf5_is_present(tmp_path):
    write_toy_yeast(tmp_path)
    chong = tmp_path / "yeast_deeploc_chong"
    chong.mkdir()
    write_chong(chong / "Chong_test_set.hdf5", [3, 3], first_cell=3)
    write_chong(chong / "Chong_train_set.hdf5", [0, 1, 2])
    data = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, output_size=16)
    cells = data.evaluation
    assert cells.crops.shape == (5, 2, 16, 16) and cells.channels == data.train.channels
    # train before test, as the paper concatenates them; GFP = 10 * cell + 1, RFP + 1
    assert list(cells.metadata["label"]) == ["ACTIN", "BUDNECK", "ER", "NUCLEUS", "NUCLEUS"]
    assert set(cells.metadata["label"]) <= set(CLASSES) and data.labelled_evaluation
    assert torch.equal(cells.crops[:, :, 0, 0], torch.tensor([[1.0, 2.0], [11, 12], [21, 22],
                                                              [31, 32], [41, 42]]))
    assert cells.metadata["image"].is_unique and cells.metadata["protein"].isna().all()
    assert "5 labelled cells of Chong et al. 2015 in 4 classes" in data.description
    subset = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, max_evaluation_cells=2)
    assert len(subset.evaluation) == 2 and subset.evaluation.crops.shape[-1] == 8
    unscored = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3,
                                 yeast_evaluation="test")
    assert not unscored.labelled_evaluation


def test_yeast_unpacks_the_deeploc_zip_and_can_require_it(tmp_path):
    write_toy_yeast(tmp_path)
    with pytest.raises(ManualDownloadRequired, match=r"(?s)Chong_train_set.hdf5.*"
                                                     r"yeast_deeploc_chong.*spidey"):
        load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, yeast_evaluation="chong")
    hdf5 = write_chong(tmp_path / "Chong_valid_set.hdf5", [2, 1])
    (tmp_path / "yeast_deeploc_chong").mkdir()
    with zipfile.ZipFile(tmp_path / "yeast_deeploc_chong" / "DeepLoc_full_datasets.zip",
                         "w") as bundle:
        bundle.write(hdf5, "datasets/Chong_valid_set.hdf5")
    hdf5.unlink()
    data = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, yeast_evaluation="chong")
    assert list(data.evaluation.metadata["label"]) == ["ER", "BUDNECK"]
    assert data.sources["chong"][0].endswith("real/yeast_deeploc_chong/Chong_valid_set.hdf5")


def test_yeast_reading_is_cached_and_a_changed_folder_reads_anew(tmp_path, monkeypatch):
    root = write_toy_yeast(tmp_path)
    reads = []

    def counted(*args, **kwargs):
        reads.append(args)
        return read_yeast_tiff_pairs(*args, **kwargs)

    monkeypatch.setattr(datasets, "read_yeast_tiff_pairs", counted)
    first = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3)
    again = load_chapter_data("yeast", data_dir=tmp_path, min_cells=3, output_size=4)
    assert len(reads) == 1 and again.train.crops.shape[-1] == 4
    assert torch.equal(again.train.crops, datasets.resize_crops(first.train.crops, 4))
    for channel in ("gfp", "rfp"):
        (root / "AAC1" / f"AAC1_1_rfp_0_{channel}.tif").unlink()
    assert len(load_chapter_data("yeast", data_dir=tmp_path, min_cells=3).train.crops) == 79
    assert len(reads) == 2


# --------------------------------------------------------------------------------------- human

def write_composites(folder):
    """4 HPA images (one protein each) of one 96-px field with 3 nuclei."""
    for number in range(4):
        image = folder / f"ENSG0{number}" / f"{number}_A1"
        image.mkdir(parents=True)
        centres = [(30, 30), (60, 62), (34 + number, 66)]
        Image.fromarray(hpa_field(centres)).save(image / "1_blue_red_green.png")


def test_human_composites_give_protein_first_crops_split_by_image(tmp_path):
    write_composites(tmp_path / "hpa_v18" / "images")
    data = load_chapter_data("human", data_dir=tmp_path, min_cells=2, hpa_window=32,
                             output_size=16, hpa_segmentation={"min_area": 50})
    assert data.train.channels == ("protein", "nucleus", "microtubules")
    assert data.train.crops.shape == (12, 3, 16, 16)
    assert set(data.train.metadata["protein"]) == {"ENSG00", "ENSG01", "ENSG02", "ENSG03"}
    assert data.train.metadata["image"].nunique() == 4 and disjoint_images(data)
    assert not data.labelled_evaluation and len(data.evaluation) == 3
    nucleus = data.train.crops[:, 1]
    assert (nucleus[:, 8, 8] > 0.7).all()          # each crop is centred on its nucleus


def test_human_composites_may_sit_directly_in_the_dataset_folder(tmp_path):
    write_composites(tmp_path / "hpa_v18")
    data = load_chapter_data("human", data_dir=tmp_path, min_cells=2, hpa_window=32,
                             output_size=16, hpa_segmentation={"min_area": 50})
    assert data.train.metadata["protein"].str.startswith("ENSG").all()


# -------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("dataset, entry, folder, how", [
    ("yeast", "pci_toy_dataset", "yeast", "Clone the official repository"),
    ("human", "hpa_v18", "images", "proteinatlas.org/<ENSG>.xml"),
])
def test_a_missing_folder_names_where_it_looked_and_how_to_get_it(tmp_path, dataset, entry,
                                                                  folder, how):
    with pytest.raises(ManualDownloadRequired) as error:
        load_chapter_data(dataset, data_dir=tmp_path)
    message = str(error.value)
    assert f"dataset={dataset!r}" in message and entry in message and how in message
    assert str(tmp_path / entry / folder) in message


def test_an_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'opencell'") as error:
        load_chapter_data("opencell")
    assert all(repr(name) in str(error.value) for name in CHAPTER_DATASETS)
    with pytest.raises(ValueError, match="yeast_evaluation must be one of"):
        load_chapter_data("yeast", yeast_evaluation="labels")


def test_bad_files_raise_the_readers_own_errors(tmp_path):
    from cellnb.data.validation import DataFormatError

    root = write_toy_yeast(tmp_path)
    (root / "AAC1" / "AAC1_1_rfp_0_rfp.tif").unlink()
    with pytest.raises(DataFormatError, match="have only one of their two TIFFs"):
        load_chapter_data("yeast", data_dir=tmp_path, min_cells=3)


def test_resize_keeps_the_mean_intensity():
    crops = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(1, 2, 8, 8)
    small = datasets.resize_crops(crops, 4)
    assert small.shape == (1, 2, 4, 4) and torch.allclose(small.mean((2, 3)), crops.mean((2, 3)))
    assert torch.equal(datasets.resize_crops(crops, None), crops)
    assert datasets.resize_crops(crops[:0], 4).shape == (0, 2, 8, 8)
