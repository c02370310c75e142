#!/usr/bin/env python3
"""A deterministic port of the Nexmark event generator (Apache Beam's
sdk/nexmark/sources/generator, which nexmark/nexmark's Flink generator also ports), writing
JSON lines: one event per line, in event-time order.

  python3 bench/nexmark/generator.py --events 1000000 [--rate 10000] > events.jsonl

As in Beam: event number i is a person, an auction or a bid by i mod 50 (1 : 3 : 46); every
event draws from java.util.Random seeded with its number (ported bit-exactly below), so the
stream does not depend on how it is generated; ids are dense (persons and auctions from 1000,
categories 10..14); bids go to a hot auction (1 in 100 of the recent ones) half of the time and
come from a hot bidder 3 times in 4; prices are round(10^(6 u) * 100) cents; `extra` pads
events to Beam's average sizes (person 200, auction 500, bid 100 bytes). Event time advances
1/rate per event (default 10,000 events/s, Beam's firstEventRate: 1 M events span 100 s of
event time) from 2026-01-01T00:00:00Z, in order (Beam's default outOfOrderGroupSize 1).
Simplified against Beam: bid channel/url are "channel-<n>" and a fixed URL carrying n (Beam
caches a random URL per channel), names and cities come from shorter lists. None of the
queries here (q0 q1 q2 q5 q7 q11) reads those fields except q0/q1 passing url-free columns.

Output fields are flat (Nexmark's nested person/auction/bid rows flattened; queries here only
read bid fields): event_type 0 person, 1 auction, 2 bid; date_time (epoch ms, also the log's
event time); person: id name email_address credit_card city state extra; auction: id
item_name description initial_bid reserve expires seller category extra; bid: auction bidder
price channel url extra.
"""
import argparse
import sys

MASK = (1 << 48) - 1
MULT = 0x5DEECE66D


class JavaRandom:
    """java.util.Random, bit for bit."""
    __slots__ = ("s",)

    def __init__(self, seed):
        self.s = (seed ^ MULT) & MASK

    def next(self, bits):
        self.s = (self.s * MULT + 0xB) & MASK
        r = self.s >> (48 - bits)
        if bits == 32 and r >= 1 << 31:
            r -= 1 << 32
        return r

    def next_int(self, bound):
        if bound & -bound == bound:
            return (bound * self.next(31)) >> 31
        while True:
            bits = self.next(31)
            val = bits % bound
            if bits - val + (bound - 1) < (1 << 31):
                return val

    def next_double(self):
        return ((self.next(26) << 27) + self.next(27)) * (1.0 / (1 << 53))


PERSON_PROPORTION, AUCTION_PROPORTION, BID_PROPORTION = 1, 3, 46
DENOM = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION
FIRST_PERSON_ID, FIRST_AUCTION_ID, FIRST_CATEGORY_ID = 1000, 1000, 10
NUM_CATEGORIES = 5
NUM_ACTIVE_PEOPLE, PERSON_ID_LEAD = 1000, 10
NUM_IN_FLIGHT_AUCTIONS, AUCTION_ID_LEAD = 100, 10
HOT_AUCTION_RATIO = HOT_SELLER_RATIO = HOT_BIDDER_RATIO = 100
HOT_AUCTIONS, HOT_SELLERS, HOT_BIDDERS = 2, 4, 4  # Beam's hotAuctionRatio, hotSellersRatio, hotBiddersRatio
AVG_PERSON, AVG_AUCTION, AVG_BID = 200, 500, 100
BASE_TIME_MS = 1_767_225_600_000
FIRST_NAMES = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"]
LAST_NAMES = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"]
US_STATES = ["AZ", "CA", "ID", "OR", "WA", "WY"]
US_CITIES = ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle",
             "Kent", "Cheyenne"]


def last_base0_person_id(event_id):
    epoch, offset = divmod(event_id, DENOM)
    if offset >= PERSON_PROPORTION:
        offset = PERSON_PROPORTION - 1
    return epoch * PERSON_PROPORTION + offset


def last_base0_auction_id(event_id):
    epoch, offset = divmod(event_id, DENOM)
    if offset < PERSON_PROPORTION:
        epoch -= 1
        offset = AUCTION_PROPORTION - 1
    elif offset >= PERSON_PROPORTION + AUCTION_PROPORTION:
        offset = AUCTION_PROPORTION - 1
    else:
        offset -= PERSON_PROPORTION
    return epoch * AUCTION_PROPORTION + offset


def next_base0_person_id(event_id, rnd):
    num_people = last_base0_person_id(event_id) + 1
    active = min(num_people, NUM_ACTIVE_PEOPLE)
    return num_people - active + rnd.next_int(active + PERSON_ID_LEAD)


def next_base0_auction_id(event_id, rnd):
    max_auction = last_base0_auction_id(event_id)
    min_auction = max(max_auction - NUM_IN_FLIGHT_AUCTIONS, 0)
    return min_auction + rnd.next_int(max_auction - min_auction + 1 + AUCTION_ID_LEAD)


def next_price(rnd):
    return round(10.0 ** (rnd.next_double() * 6.0) * 100.0)


def next_string(rnd, max_length, special=" "):
    n = 3 + rnd.next_int(max_length - 3)
    out = []
    for _ in range(n):
        out.append(special if rnd.next_int(13) == 0 else chr(97 + rnd.next_int(26)))
    return "".join(out).strip()


def next_exact_string(rnd, length):
    out = []
    r = 0
    for _ in range(length):
        if r == 0:
            r = rnd.next_int(0x7FFFFFFF)
        out.append(chr(97 + r % 26))
        r //= 26
    return "".join(out)


def next_extra(rnd, current_size, desired_average):
    if current_size > desired_average:
        return ""
    desired = desired_average - current_size
    delta = round(desired * 0.2)
    size = desired - delta + (rnd.next_int(2 * delta) if delta > 0 else 0)
    return next_exact_string(rnd, size)


def event(i, rate):
    """Event number i as one JSON line (without the newline)."""
    rnd = JavaRandom(i)
    ts = BASE_TIME_MS + (i * 1_000_000 // rate) // 1000
    rem = i % DENOM
    if rem < PERSON_PROPORTION:
        pid = last_base0_person_id(i) + FIRST_PERSON_ID
        name = FIRST_NAMES[rnd.next_int(len(FIRST_NAMES))] + " " + LAST_NAMES[rnd.next_int(len(LAST_NAMES))]
        email = next_string(rnd, 7) + "@" + next_string(rnd, 5) + ".com"
        card = " ".join(f"{rnd.next_int(10000):04d}" for _ in range(4))
        city = US_CITIES[rnd.next_int(len(US_CITIES))]
        state = US_STATES[rnd.next_int(len(US_STATES))]
        extra = next_extra(rnd, 8 + len(name) + len(email) + len(card) + len(city) + len(state), AVG_PERSON)
        return (f'{{"event_type":0,"date_time":{ts},"id":{pid},"name":"{name}","email_address":"{email}",'
                f'"credit_card":"{card}","city":"{city}","state":"{state}","extra":"{extra}"}}')
    if rem < PERSON_PROPORTION + AUCTION_PROPORTION:
        aid = last_base0_auction_id(i) + FIRST_AUCTION_ID
        if rnd.next_int(HOT_SELLERS) > 0:
            seller = (last_base0_person_id(i) // HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        else:
            seller = next_base0_person_id(i, rnd)
        seller += FIRST_PERSON_ID
        category = FIRST_CATEGORY_ID + rnd.next_int(NUM_CATEGORIES)
        initial = next_price(rnd)
        # Beam's nextAuctionLengthMs: up to twice the event time of the next in-flight auctions.
        horizon = ((NUM_IN_FLIGHT_AUCTIONS * DENOM // AUCTION_PROPORTION) * 1_000_000 // rate) // 1000
        expires = ts + 1 + rnd.next_int(max(horizon * 2, 1))
        item = next_string(rnd, 20)
        desc = next_string(rnd, 100)
        reserve = initial + next_price(rnd)
        extra = next_extra(rnd, 8 + len(item) + len(desc) + 8 * 5, AVG_AUCTION)
        return (f'{{"event_type":1,"date_time":{ts},"id":{aid},"item_name":"{item}","description":"{desc}",'
                f'"initial_bid":{initial},"reserve":{reserve},"expires":{expires},"seller":{seller},'
                f'"category":{category},"extra":"{extra}"}}')
    if rnd.next_int(HOT_AUCTIONS) > 0:
        auction = (last_base0_auction_id(i) // HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
    else:
        auction = next_base0_auction_id(i, rnd)
    auction += FIRST_AUCTION_ID
    if rnd.next_int(HOT_BIDDERS) > 0:
        bidder = (last_base0_person_id(i) // HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
    else:
        bidder = next_base0_person_id(i, rnd)
    bidder += FIRST_PERSON_ID
    price = next_price(rnd)
    ch = rnd.next_int(10000)
    extra = next_extra(rnd, 32, AVG_BID)
    return (f'{{"event_type":2,"date_time":{ts},"auction":{auction},"bidder":{bidder},"price":{price},'
            f'"channel":"channel-{ch}","url":"https://www.nexmark.com/item.htm?query=1&channel_id={ch}",'
            f'"extra":"{extra}"}}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=10_000, help="events per second of event time")
    a = ap.parse_args()
    out = sys.stdout
    chunk = []
    for i in range(a.events):
        chunk.append(event(i, a.rate))
        if len(chunk) >= 50_000:
            out.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        out.write("\n".join(chunk) + "\n")


if __name__ == "__main__":
    main()
