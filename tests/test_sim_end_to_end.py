"""The simulator through its public doors: the ``cellnb sim`` command writes what the API makes,
the store round-trips it, and segmentation finds the simulated nuclei."""
import numpy as np

from cellnb.book import cli
from cellnb.data.cache import cached_imageset
from cellnb.data.segmentation import extract_crops, segment_nuclei
from cellnb.data.store import ImageSetDataset, read_imageset
from cellnb.evaluation.detection import match_instances
from cellnb.sim import AtlasConfig, generate_crops, generate_fields

TINY = dict(n_proteins=32, fields_per_protein=1, rare_fields=1, crops_per_field=2,
            cells_per_field=12, field_size=160)


def test_cellnb_sim_writes_the_crops_the_api_generates(tmp_path, capsys):
    out = tmp_path / "atlas.h5"
    status = cli.main(["sim", "--kind", "crops", "--out", str(out), "--seed", "3", "--no-progress",
                       "--workers", "2",
                       *[arg for key, value in TINY.items()
                         for arg in (f"--{key.replace('_', '-')}", str(value))]])
    assert status == 0 and "wrote" in capsys.readouterr().out
    written = read_imageset(out)
    expected = generate_crops(AtlasConfig(seed=3, **TINY), progress=False)
    np.testing.assert_array_equal(written.images, expected.images)
    np.testing.assert_array_equal(written.masks, expected.masks)
    assert written.metadata.equals(expected.metadata)
    assert written.attrs["config"] == AtlasConfig(seed=3, **TINY).as_dict()


def test_cached_atlas_feeds_a_torch_dataset(tmp_path):
    config = AtlasConfig(**TINY)
    path = cached_imageset("atlas-crops", config.as_dict(),
                           lambda: generate_crops(config, progress=False))
    dataset = ImageSetDataset(path, channels=["protein", "nuclear_distance"], target="protein_id")
    image, target = dataset[0]
    assert tuple(image.shape) == (2, 64, 64)
    assert target == read_imageset(path).metadata.protein_id[0]


def test_segmentation_recovers_the_simulated_nuclei():
    fields = generate_fields(AtlasConfig(n_proteins=32, fields_per_protein=1, rare_fields=1),
                             progress=False, proteins=["NPL1", "MIT1", "PMB1", "VES2"])
    tp = fn = 0
    for nucleus, truth in zip(fields.channel("nucleus"), fields.mask("nuclei")):
        match = match_instances(segment_nuclei(nucleus), truth)
        tp, fn = tp + match.tp, fn + match.fn
    assert tp / (tp + fn) >= 0.9


def test_crops_cut_from_segmented_fields_are_centred_on_simulated_nuclei():
    fields = generate_fields(AtlasConfig(n_proteins=32, fields_per_protein=1), progress=False,
                             proteins=["CYT1"])
    labels = segment_nuclei(fields.channel("nucleus")[0])
    crops, table = extract_crops(fields.images[0, :2], labels, size=64, with_distance_map=True)
    assert len(crops) >= 5
    truth = fields.mask("nuclei")[0]
    centre_labels = truth[np.round(table.centroid_y).astype(int), np.round(table.centroid_x).astype(int)]
    assert (centre_labels > 0).mean() >= 0.9, "crop centres should fall on true nuclei"
    assert (crops[:, 2, 31:33, 31:33] > 0).all(), "the distance channel is positive at the centre"
