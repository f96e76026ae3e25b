"""The numbers of Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis"
(ICCV 2017), as data, each cited by its figure or table: Fig. 3 (:data:`FIG3`,
:data:`FIG3_REAL`), Table 1 (:data:`TABLE1`), Table 2 (:data:`TABLE2`) and Table 3
(:data:`TABLE3`). Both :mod:`.figures` (drawn beside ours) and :mod:`.findings` (the paper's
column, and the rules the paper's own numbers must pass) read them here.

The paper prints "centre ± spread"; Section 5.1 says it always reports the median over 10
random splits with the median absolute deviation, and Section 5.2 the same for Table 3. The
C2ST tables keep the names mean and std (the columns of our own C2ST summaries) for that
centre and spread.

The names are the ones the chapter's analyses (:mod:`.analysis`) give their rows, so ours and
the paper's can be joined: "GAN" and "WGAN-GP" are the separable models of Fig. 3 (the paper
labels them "sep. GAN" and "sep. WGAN-GP"), and Table 3's rows are those of
:func:`.analysis.reconstruction_study`.
"""
from __future__ import annotations

import pandas as pd

NA = float("nan")

# --- names -----------------------------------------------------------------------------------
GAN, WGAN_GP = "GAN", "WGAN-GP"                     # Fig. 3's separable models
REGULAR, SEPARABLE = "regular", "separable"         # Table 3's tasks
NEAREST, GAUSSIAN = "nearest neighbour", "Gaussian noise"   # Table 3's references (task "-")
STAR = "WGAN-GP-star"                               # Table 3's star-shaped WGAN-GP
# Table 2's columns, keyed; the paper's "non-separable" / "separable" become "" / " sep.".
MODEL_NAMES = dict(real="real images", one_class="one-class", one_class_sep="one-class sep.",
                   multichannel="multi-channel", multichannel_sep="multi-channel sep.",
                   star="star-shaped")
TABLE2_MODELS = tuple(MODEL_NAMES.values())

# Table 1's proteins. The first six are Fig. 1's, the classes of Fig. 3 and Table 2; Fim1 and
# Tea4 were added because their localization resembles Arp3's and Tea1's (Sec. 5.1).
CLASSES = ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1", "Fim1", "Tea4")
TWINS = {"Arp3": "Fim1", "Tea1": "Tea4"}            # bold in Table 1, in both directions

# --- Fig. 3: C2ST of the separable models after 1k, 5k and 50k generator iterations ----------
FIG3 = pd.DataFrame(
    [(GAN, 1_000, 11.0, 0.1), (GAN, 5_000, 6.7, 0.1), (GAN, 50_000, 3.2, 0.1),
     (WGAN_GP, 1_000, 6.0, 0.1), (WGAN_GP, 5_000, 2.2, 0.1), (WGAN_GP, 50_000, 1.6, 0.1)],
    columns=["model", "iteration", "mean", "std"])
FIG3_REAL = (-0.7, 0.6)                             # "Real": real test against real train

# --- Table 1: C2ST (WGAN-GP critic) of real images against real images -----------------------
# Rows: the class of the test images; columns: the class of the training images.
TABLE1 = pd.DataFrame(
    [[0.1, 12.5, 8.1, 12.5, 9.5, 10.9, 15.6, 11.4],
     [14.4, 0.8, 16.2, 11.5, 20.5, 13.2, 3.7, 18.3],
     [8.6, 15.9, -0.2, 13.7, 12.0, 15.8, 18.5, 16.0],
     [12.3, 12.2, 13.6, -0.2, 12.4, 13.3, 15.1, 14.9],
     [9.0, 19.5, 11.8, 13.4, -0.6, 12.6, 23.9, 7.7],
     [11.3, 11.5, 15.9, 14.4, 13.1, -0.1, 14.5, 6.9],
     [16.3, 2.8, 18.4, 14.5, 23.4, 15.1, -0.2, 20.8],
     [9.7, 15.8, 14.0, 13.9, 6.2, 5.9, 19.5, -0.5]],
    index=pd.Index(CLASSES, name="test_class"), columns=pd.Index(CLASSES, name="train_class"))
TABLE1_STD = pd.DataFrame(
    [[0.2, 0.3, 0.3, 0.5, 0.2, 0.3, 0.3, 0.3],
     [0.2, 0.4, 0.2, 0.4, 0.3, 0.2, 0.2, 0.3],
     [0.2, 0.3, 0.3, 0.4, 0.3, 0.3, 0.4, 0.5],
     [0.4, 0.6, 0.3, 0.4, 0.6, 0.6, 0.5, 0.8],
     [0.3, 0.4, 0.5, 0.9, 0.3, 0.3, 0.4, 0.6],
     [0.3, 0.5, 0.3, 0.6, 0.1, 0.4, 0.5, 0.5],
     [0.2, 0.3, 0.2, 0.3, 0.3, 0.2, 0.3, 0.5],
     [0.6, 0.7, 0.9, 0.9, 0.4, 0.3, 0.7, 0.7]],
    index=TABLE1.index, columns=TABLE1.columns)

# --- Table 2: C2ST of the multi-green models (all WGAN-GP) against each class's test images ---
# The last row, "6 proteins", is the average over the classes.
TABLE2 = pd.DataFrame(
    [[0.1, 0.6, 1.2, 3.2, 2.3, 0.6],
     [0.8, 1.2, 2.4, 3.2, 4.2, 2.1],
     [-0.2, 0.3, 1.0, 2.5, 3.6, 1.2],
     [-0.2, 0.8, 0.5, 4.6, 6.6, 2.4],
     [-0.6, 0.8, 1.0, 4.5, 3.2, 1.1],
     [-0.1, 0.8, 0.8, 4.4, 2.8, 1.1],
     [-0.1, 0.8, 1.1, 3.7, 3.8, 1.4]],
    index=pd.Index([*CLASSES[:6], "6 proteins"], name="class_name"),
    columns=pd.Index(TABLE2_MODELS, name="model"))
TABLE2_STD = pd.DataFrame(
    [[0.2, 0.3, 0.2, 0.4, 0.5, 0.3],
     [0.4, 0.3, 0.4, 0.4, 0.4, 0.5],
     [0.3, 0.5, 0.3, 0.3, 0.5, 0.3],
     [0.4, 0.6, 0.4, 0.5, 0.5, 0.6],
     [0.3, 0.4, 0.5, 0.5, 0.6, 0.6],
     [0.4, 0.5, 0.5, 0.3, 0.5, 0.4],
     [0.2, 0.2, 0.2, 0.1, 0.2, 0.1]],
    index=TABLE2.index, columns=TABLE2.columns)

# --- Table 3: reconstruction, median and MAD of the RMSE ("L2-error") and of the latents' NLL -
# The references first (no task: the nearest training cell; draws from the prior), then the
# four models on the regular task, then the same four on the separable (red-first) one.
TABLE3 = pd.DataFrame([
    ("-", NEAREST, 0.079, 0.009, NA, NA),
    ("-", GAUSSIAN, NA, NA, 142, 5),
    (REGULAR, "GAN-sep", 0.053, 0.007, 166, 17),
    (REGULAR, "WGAN-GP-sep", 0.043, 0.006, 149, 8),
    (REGULAR, "GAN-star", 0.061, 0.008, 139, 12),
    (REGULAR, STAR, 0.041, 0.005, 150, 8),
    (SEPARABLE, "GAN-sep", 0.069, 0.011, 158, 13),
    (SEPARABLE, "WGAN-GP-sep", 0.062, 0.009, 143, 6),
    (SEPARABLE, "GAN-star", 0.074, 0.011, 142, 7),
    (SEPARABLE, STAR, 0.058, 0.010, 143, 7)],
    columns=["task", "model", "rmse_median", "rmse_mad", "nll_median", "nll_mad"])
