"""The published numbers of the thesis chapter "A Faster ScatterNet" (F. Cotter, PhD thesis, University of
Cambridge: Tables 1.3 and 1.4), which reports compare against."""

# Table 1.3, final version: top-1 % (and training hours on one GTX 1080).
TABLE13 = {
    ("morlet8", "cifar10"): 88.6, ("morlet8", "cifar100"): 65.3, ("morlet8", "tiny_imagenet"): 57.6,
    ("morlet6", "cifar10"): 89.1, ("morlet6", "cifar100"): 65.7, ("morlet6", "tiny_imagenet"): 57.5,
    ("dtcwt", "cifar10"): 89.8, ("dtcwt", "cifar100"): 66.2, ("dtcwt", "tiny_imagenet"): 57.3,
}
TABLE13_HOURS = {
    ("morlet8", "cifar10"): 3.4, ("morlet8", "cifar100"): 3.4, ("morlet8", "tiny_imagenet"): 5.6,
    ("morlet6", "cifar10"): 2.4, ("morlet6", "cifar100"): 2.4, ("morlet6", "tiny_imagenet"): 4.4,
    ("dtcwt", "cifar10"): 1.1, ("dtcwt", "cifar100"): 1.1, ("dtcwt", "tiny_imagenet"): 2.7,
}
# The thesis' chosen DTCWT setting (Table 1.3's) and the Table 1.4 grid are the front ends' own options:
# scatnet/frontends/options.py.

# The Learnable ScatterNet (F. Cotter and N. Kingsbury, "A Learnable ScatterNet: Locally Invariant Convolutional
# Layers", ICIP 2019, arXiv 1903.03137), Table 3: top-1 % of ScatNets A-D (frontend=learnable_a..d). Transcribed
# second-hand from the table image in its code's README (github.com/fbcotter/scatnet_learn), not from the paper's
# text, so reports mark them unverified until checked there. ScatNet C's numbers were not read: None.
LEARNABLE_TABLE3 = {
    ("learnable_a", "cifar10"): 89.4, ("learnable_a", "cifar100"): 67.0,
    ("learnable_b", "cifar10"): 91.1, ("learnable_b", "cifar100"): 70.7,
    ("learnable_c", "cifar10"): None, ("learnable_c", "cifar100"): None,
    ("learnable_d", "cifar10"): 93.0, ("learnable_d", "cifar100"): 73.5,
}
LEARNABLE_TABLE3_VERIFIED = False
UNVERIFIED_NOTE = ("Published numbers marked unverified were transcribed second-hand from the table image in the "
                   "paper's code README (fbcotter/scatnet_learn), not yet checked against the paper itself "
                   "(arXiv 1903.03137, Table 3).")
