from datetime import date

from stdnum.fr import nir as stdnum_nir

from canary.generate.nir import birth_place_code, check_key, make_nir, monthly_births, order_range, split_nir


def test_key_is_97_minus_mod_97_and_agrees_with_stdnum():
    nir = make_nir("M", date(1983, 6, 2), "13001", 383)
    assert nir[:13] == "1830613001383"
    assert nir[13:] == f"{97 - 1830613001383 % 97:02d}"
    assert stdnum_nir.is_valid(nir)


def test_corsica_keys_count_2a_as_19_and_2b_as_18():
    for code, digits in (("2A004", "19004"), ("2B033", "18033")):
        nir = make_nir("F", date(1990, 1, 15), code, 12)
        assert nir[5:10] == code
        assert nir[13:] == check_key(nir[:5] + digits + nir[10:13])
        assert stdnum_nir.is_valid(nir)


def test_corsica_births_before_1976_are_department_20():
    assert birth_place_code("2A004", date(1975, 12, 31)) == "20004"
    assert birth_place_code("2A004", date(1976, 1, 1)) == "2A004"
    assert birth_place_code("69383", date(1950, 1, 1)) == "69383"
    assert stdnum_nir.is_valid(make_nir("M", date(1960, 3, 1), "20004", 5))


def test_split_reads_back_every_part():
    parts = split_nir(make_nir("F", date(2001, 11, 30), "99350", 47))
    assert (parts.sex, parts.year, parts.month, parts.place, parts.order) == ("2", "01", "11", "99350", "047")
    assert split_nir("12345") is None
    assert split_nir("1830613X01383xx") is None


def test_order_numbers_sit_just_above_the_month_s_births_and_inside_001_999():
    for population in (50, 2_000, 40_000, 150_000, 2_000_000):
        births = monthly_births(population, maternity=True)
        low, high = order_range(births)
        assert 1 <= low <= high <= 999
        if births < 700:
            assert low > births  # above what the town registers in an ordinary month
            assert high < births * 2 + 10  # yet not absurdly high for its size
