/**
 * Quiescence and host liveness (docs/multi-raft.md): the groups of a host
 * that are idle stop ticking and heartbeating; the host sends one
 * host-level heartbeat per heartbeat interval to each peer host it shares
 * a group with, and a resting follower whose leader's host falls silent
 * for an election timeout wakes and elects.
 *
 * @module
 */

import type { Logger } from "../logger.ts";
import type { HostedNode } from "../node/hosted.ts";
import { type Message, MessageType, newMessage, None, StateType } from "../types.ts";
import {
  hostMessage,
  type HostNotices,
  noNotices,
  type QuiesceNotice,
  readHostNotices,
} from "./host_wire.ts";
import { expandHeartbeats } from "./coalesce.ts";
import type { GroupId, GroupMessage, HostId } from "./seams.ts";

/**
 * Ticks from noticing a silent leader host to campaigning in its stead,
 * beyond the host-level heartbeat interval. Another voter's last frame
 * from that host may be up to one heartbeat interval fresher than this
 * host's (a crash can cut the last heartbeat off from some peers), so it
 * notices the silence up to `heartbeatTick` ticks later, plus one tick for
 * the phase of its tick timer; one more tick lets the network's jitter
 * pass. Campaigning earlier, the (Pre)Vote finds that voter still in its
 * leader's lease, and the group waits a whole randomized election timeout.
 */
const campaignMarginTicks = 2;

/** Counters of host liveness and quiescence. */
export interface QuiescenceStats {
  /** Host-level heartbeats sent (one per peer host per heartbeat interval, with any notices). */
  hostHeartbeatsSent: number;
  /** Host-level heartbeats received. */
  hostHeartbeatsReceived: number;
  /** Times a group of this host went to rest. */
  quiesces: number;
  /** Times a resting group of this host woke. */
  wakes: number;
  /**
   * Resting followers that found their leader's host silent (the one
   * chosen to campaign wakes then; the others at its (Pre)Vote, or a few
   * ticks later).
   */
  livenessWakes: number;
}

/** What {@linkcode Quiescence} works with. */
export interface QuiescenceContext {
  readonly hostId: HostId;
  /** The running groups (the host's map: read, never changed here). */
  readonly groups: ReadonlyMap<GroupId, HostedNode<unknown>>;
  /** Whether idle groups rest; without it the host sends no host-level traffic. */
  readonly enabled: boolean;
  /** Host ticks between two host-level heartbeats. */
  readonly heartbeatTick: number;
  /** Host ticks of silence after which a peer host counts as down. */
  readonly livenessTick: number;
  /** Sends a host-level message (group 0). */
  send(m: Message): void;
  /** Steps a message into a group, as the transport would. */
  deliver(groupId: GroupId, m: Message): void;
  readonly logger: Logger;
}

/** Ticks a host's groups, lets idle ones rest, and tracks the peer hosts' liveness. */
export class Quiescence {
  readonly #c: QuiescenceContext;
  /** The resting groups. */
  readonly #quiet = new Set<GroupId>();
  /** The groups that do not rest: the only ones a tick visits. */
  readonly #awake = new Set<GroupId>();
  /** The tick each peer host was last heard from (any frame). */
  readonly #heardAt = new Map<HostId, number>();
  /** The peer hosts seen not live (until seen live again). */
  readonly #down = new Set<HostId>();
  /** The hosts that share a group with this one; `undefined`: to be listed again. */
  #peers: HostId[] | undefined = undefined;
  #ticks = 0;
  /**
   * Resting followers whose leader's host fell silent and that do not
   * campaign: they wake at the tick given, unless a message wakes them first.
   */
  readonly #wakeAt = new Map<GroupId, number>();
  /** Groups whose leader's host fell silent and where this host campaigns, at the tick given. */
  readonly #campaignAt = new Map<GroupId, number>();
  readonly #stats: QuiescenceStats = {
    hostHeartbeatsSent: 0,
    hostHeartbeatsReceived: 0,
    quiesces: 0,
    wakes: 0,
    livenessWakes: 0,
  };

  /** @param context What it works with. */
  constructor(context: QuiescenceContext) {
    this.#c = context;
  }

  /** A copy of the counters. */
  get stats(): QuiescenceStats {
    return { ...this.#stats };
  }

  /** How many groups rest. */
  get quiescedCount(): number {
    return this.#quiet.size;
  }

  /**
   * Whether a group rests.
   *
   * @param groupId The group.
   * @returns `true` when it does.
   */
  isQuiesced(groupId: GroupId): boolean {
    return this.#quiet.has(groupId);
  }

  /**
   * Whether a peer host was heard from within the liveness timeout.
   *
   * @param host The peer host.
   * @returns `true` when it was (this host itself is always live).
   */
  isLive(host: HostId): boolean {
    if (host === this.#c.hostId) return true;
    const at = this.#heardAt.get(host);
    return at === undefined || this.#ticks - at < this.#c.livenessTick;
  }

  /**
   * A group was added: it starts awake, and the peer hosts are listed again.
   *
   * @param groupId The group.
   */
  added(groupId: GroupId): void {
    if (!this.#quiet.has(groupId)) this.#awake.add(groupId);
    this.#peers = undefined;
  }

  /** A group's membership changed: the peer hosts are listed again. */
  membershipChanged(): void {
    this.#peers = undefined;
  }

  /**
   * Forgets a group the host no longer runs.
   *
   * @param groupId The group.
   */
  remove(groupId: GroupId): void {
    this.#quiet.delete(groupId);
    this.#awake.delete(groupId);
    this.#campaignAt.delete(groupId);
    this.#wakeAt.delete(groupId);
    this.#peers = undefined;
  }

  /**
   * One host tick: wakes the resting followers whose leader's host fell
   * silent, lets idle leaders rest, ticks every group that does not rest,
   * and sends the host-level heartbeats that are due.
   */
  tick(): void {
    this.#ticks++;
    if (!this.#c.enabled) {
      for (const g of this.#c.groups.values()) g.tick();
      return;
    }
    if (this.#peers === undefined) this.#listPeers();
    const peers = this.#peers!;
    this.#watchLiveness(peers);
    if (this.#wakeAt.size > 0) this.#wakeDue();
    if (this.#campaignAt.size > 0) this.#campaignDue();
    // Before the tick: the Readies of the last one are handled by now.
    const notices = this.#quiesceIdleLeaders();
    for (const groupId of this.#awake) this.#c.groups.get(groupId)?.tick();
    const due = this.#ticks % this.#c.heartbeatTick === 0;
    for (const p of peers) {
      const quiesce = notices.get(p);
      if (!due && quiesce === undefined) continue;
      this.#sendHost(p, { ...noNotices, quiesce: quiesce ?? [] });
    }
  }

  /**
   * A frame came from a peer host: it is live.
   *
   * @param from The peer host.
   */
  heard(from: HostId): void {
    this.#heardAt.set(from, this.#ticks);
  }

  /**
   * Takes a host-level message (group 0).
   *
   * @param from The sending host.
   * @param m The message.
   * @returns The groups' heartbeats and responses it carried, to deliver.
   */
  receive(from: HostId, m: Message): readonly GroupMessage[] {
    const notices = readHostNotices(m);
    if (typeof notices === "string") {
      this.#c.logger.warning(
        `host ${this.#c.hostId} dropped a host message from ${from}: ${notices}`,
      );
      return [];
    }
    this.#stats.hostHeartbeatsReceived++;
    const expanded = expandHeartbeats(from, this.#c.hostId, notices);
    if (!this.#c.enabled) return expanded;
    for (const n of notices.quiesce) this.#onQuiesceNotice(from, n);
    for (const g of notices.wake) {
      const h = this.#c.groups.get(g);
      if (h !== undefined && h.rawNode.basicStatus().raftState === StateType.StateLeader) {
        this.#wake(g, h, from);
      }
    }
    return expanded;
  }

  /**
   * Before a message of a group is stepped: a resting group wakes for
   * anything but its leader's heartbeat (follower) or a heartbeat
   * response (leader), which it steps without ticking again.
   *
   * @param groupId The group.
   * @param m The message.
   */
  beforeStep(groupId: GroupId, m: Message): void {
    if (!this.#quiet.has(groupId)) return;
    const h = this.#c.groups.get(groupId);
    if (h === undefined) return;
    // A removed member's messages are dropped unread: they wake nothing.
    if (h.wasRemoved(m.from)) return;
    const st = h.rawNode.basicStatus();
    if (m.type === MessageType.MsgHeartbeatResp) return;
    if (m.type === MessageType.MsgHeartbeat && m.from === st.lead && m.term === st.term) return;
    this.#wake(groupId, h, m.from);
  }

  /**
   * A request starts on a group's node: a resting group wakes.
   *
   * @param groupId The group.
   */
  onRequest(groupId: GroupId): void {
    const h = this.#c.groups.get(groupId);
    if (h !== undefined) this.#wake(groupId, h, None);
  }

  /**
   * Wakes a resting group. A follower whose leader's host is not live
   * forgets its leader (it grants votes at once); one whose leader is live
   * tells the leader to wake too, unless the leader woke it.
   */
  #wake(groupId: GroupId, h: HostedNode<unknown>, cause: HostId): void {
    if (!this.#quiet.delete(groupId)) return;
    this.#awake.add(groupId);
    this.#wakeAt.delete(groupId);
    this.#stats.wakes++;
    const st = h.rawNode.basicStatus();
    const follower = st.raftState !== StateType.StateLeader;
    const forget = follower && st.lead !== None && !this.isLive(st.lead);
    h.wake(forget);
    if (follower && !forget && st.lead !== None && cause !== st.lead) {
      this.#sendHost(st.lead, { ...noNotices, wake: [groupId] });
    }
  }

  /**
   * Wakes the resting followers whose leader's host is not live, and, when
   * a peer host is live again, the resting leaders of its groups: they
   * heartbeat it, so that its replicas catch up (they were not waited for)
   * and a replica that still believes it leads learns the newer term.
   */
  #watchLiveness(peers: readonly HostId[]): void {
    let revived: HostId[] | undefined;
    let silenced: HostId[] | undefined;
    for (const p of peers) {
      if (this.isLive(p)) {
        if (this.#down.delete(p)) (revived ??= []).push(p);
      } else if (!this.#down.has(p)) {
        this.#down.add(p);
        (silenced ??= []).push(p);
      }
    }
    if (silenced !== undefined) {
      this.#orphanAwakeFollowers(silenced);
      this.#wakeOrphans();
    }
    if (revived === undefined) return;
    for (const groupId of [...this.#quiet]) {
      const h = this.#c.groups.get(groupId)!;
      if (h.rawNode.basicStatus().raftState !== StateType.StateLeader) continue;
      const cs = h.confState();
      if (revived.some((p) => cs.voters.includes(p) || cs.learners.includes(p))) {
        this.#wake(groupId, h, None);
      }
    }
  }

  /**
   * The awake followers of a leader on a host that just fell silent: they
   * forget that leader and restart their election clock, as the resting
   * ones do when they wake, and the chosen voter campaigns at the same
   * tick. Without this, a follower woken between the leader host's crash
   * and the notice of its silence (by a stray (Pre)Vote, say) would keep
   * its leader's lease, refuse the chosen voter's (Pre)Vote, and, were it
   * the chosen voter, not campaign: the group would wait a whole
   * randomized election timeout.
   */
  #orphanAwakeFollowers(silenced: readonly HostId[]): void {
    for (const groupId of this.#awake) {
      const h = this.#c.groups.get(groupId);
      if (h === undefined) continue;
      const st = h.rawNode.basicStatus();
      if (st.raftState !== StateType.StateFollower || !silenced.includes(st.lead)) continue;
      this.#stats.livenessWakes++;
      this.#logLostLeader(groupId, st.lead);
      h.wake(true);
      if (this.#campaigns(groupId, h)) {
        this.#campaignAt.set(groupId, this.#ticks + this.#c.heartbeatTick + campaignMarginTicks);
      }
    }
  }

  #logLostLeader(groupId: GroupId, lead: HostId): void {
    this.#c.logger.info(
      `host ${this.#c.hostId}: group ${groupId} lost its leader, host ${lead} is silent`,
    );
  }

  /**
   * Whether this host is the live voter of a group chosen to campaign
   * when its leader's host falls silent: chosen by the group's ID, so that
   * the new leaders spread over the hosts.
   */
  #campaigns(groupId: GroupId, h: HostedNode<unknown>): boolean {
    const voters = h.confState().voters.filter((id) => this.isLive(id));
    return voters.length > 0 && voters[groupId % voters.length] === this.#c.hostId;
  }

  /** Wakes every resting follower whose leader's host is not live. */
  #wakeOrphans(): void {
    for (const groupId of [...this.#quiet]) {
      const h = this.#c.groups.get(groupId)!;
      const st = h.rawNode.basicStatus();
      if (st.raftState === StateType.StateLeader || this.isLive(st.lead)) continue;
      if (this.#wakeAt.has(groupId)) continue;
      this.#stats.livenessWakes++;
      this.#logLostLeader(groupId, st.lead);
      // The chosen voter campaigns heartbeatTick + 2 ticks from now (the
      // others notice the silence too meanwhile).
      const delay = this.#c.heartbeatTick + campaignMarginTicks;
      if (this.#campaigns(groupId, h)) {
        this.#wake(groupId, h, None);
        this.#campaignAt.set(groupId, this.#ticks + delay);
        continue;
      }
      // The others rest on: that voter's (Pre)Vote wakes them, and they
      // forget the silent leader and grant it. Woken now, their own election
      // timeout could fire before it arrives and split the vote. Should no
      // (Pre)Vote come, they wake one tick after that voter was to campaign,
      // and elect on their election timeout.
      this.#wakeAt.set(groupId, this.#ticks + delay + 1);
    }
  }

  /** Wakes the resting followers whose turn came while their leader's host stays silent. */
  #wakeDue(): void {
    for (const [groupId, at] of this.#wakeAt) {
      if (at > this.#ticks) continue;
      this.#wakeAt.delete(groupId);
      const h = this.#c.groups.get(groupId);
      if (h === undefined || !this.#quiet.has(groupId)) continue;
      if (!this.isLive(h.rawNode.basicStatus().lead)) this.#wake(groupId, h, None);
    }
  }

  /** Campaigns in the groups whose turn came, unless they found a leader meanwhile. */
  #campaignDue(): void {
    for (const [groupId, at] of this.#campaignAt) {
      if (at > this.#ticks) continue;
      this.#campaignAt.delete(groupId);
      const h = this.#c.groups.get(groupId);
      const st = h?.rawNode.basicStatus();
      if (h === undefined || st!.lead !== None || st!.raftState !== StateType.StateFollower) {
        continue;
      }
      try {
        h.node.campaign();
      } catch {
        // Closed meanwhile: nothing to elect here.
      }
    }
  }

  /**
   * Lets every idle leader rest; returns the quiesce notices for each
   * follower host.
   */
  #quiesceIdleLeaders(): Map<HostId, QuiesceNotice[]> {
    const notices = new Map<HostId, QuiesceNotice[]>();
    for (const groupId of this.#awake) {
      const h = this.#c.groups.get(groupId);
      if (h === undefined || !canQuiesceLeader(h, this)) continue;
      const st = h.rawNode.basicStatus();
      h.rawNode.withProgress((id, _type, pr) => {
        if (id === this.#c.hostId) return;
        let list = notices.get(id);
        if (list === undefined) notices.set(id, list = []);
        // As a heartbeat's: the commit a follower may take is at most what
        // it acknowledged in this term (its match), never the leader's alone:
        // a replica whose log holds other entries at those indexes (one that
        // was down, say) must not commit them.
        list.push({
          groupId,
          term: st.term,
          commit: Math.min(pr.match, st.commit),
          lastIndex: st.commit,
        });
      });
      this.#rest(groupId);
      this.#stats.quiesces++;
    }
    return notices;
  }

  /**
   * A follower rests when it agrees with its leader's quiesce notice: same
   * leader and term, its log confirmed by the leader up to the leader's last
   * index (the notice's commit, at most this replica's match, reaches it),
   * no request waiting. It takes the notice's commit first (as from a
   * heartbeat). One that does not agree asks the leader to wake.
   */
  #onQuiesceNotice(from: HostId, n: QuiesceNotice): void {
    const h = this.#c.groups.get(n.groupId);
    if (h === undefined) return;
    const rn = h.rawNode;
    const st = rn.basicStatus();
    // The leader confirmed this replica's log up to its last index (the
    // notice's commit is at most the replica's match): only then may it rest.
    const agree = st.raftState === StateType.StateFollower && st.lead === from &&
      st.term === n.term && n.commit >= n.lastIndex && rn.lastIndex() >= n.lastIndex &&
      st.commit <= n.commit && h.idle();
    if (!agree) {
      if (this.#quiet.has(n.groupId)) this.#wake(n.groupId, h, None);
      else this.#sendHost(from, { ...noNotices, wake: [n.groupId] });
      return;
    }
    if (st.commit < n.commit) {
      this.#c.deliver(
        n.groupId,
        newMessage({
          type: MessageType.MsgHeartbeat,
          from,
          to: this.#c.hostId,
          term: n.term,
          commit: n.commit,
        }),
      );
    }
    if (!this.#quiet.has(n.groupId)) {
      this.#rest(n.groupId);
      this.#stats.quiesces++;
    }
  }

  #rest(groupId: GroupId): void {
    this.#quiet.add(groupId);
    this.#awake.delete(groupId);
  }

  #sendHost(to: HostId, notices: HostNotices): void {
    this.#stats.hostHeartbeatsSent++;
    this.#c.send(hostMessage(this.#c.hostId, to, notices));
  }

  /** Lists the hosts that share a group with this one; a new one counts as heard now. */
  #listPeers(): void {
    const peers = new Set<HostId>();
    for (const h of this.#c.groups.values()) {
      const cs = h.confState();
      for (const list of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
        for (const id of list) if (id !== this.#c.hostId) peers.add(id);
      }
    }
    for (const p of peers) if (!this.#heardAt.has(p)) this.#heardAt.set(p, this.#ticks);
    this.#peers = [...peers].sort((a, b) => a - b);
  }
}

/**
 * Whether a group's leader may let it rest: nothing pending (no request,
 * no transfer, no joint configuration, nothing to write or apply), its
 * last index committed, and every member on a live host holding that index
 * and heard from since the leader last woke (so a woken leader heartbeats
 * at least once: a follower that lost track of it finds it again). A
 * member on a host that is down is not waited for: back, it campaigns,
 * which wakes the group.
 */
function canQuiesceLeader(h: HostedNode<unknown>, liveness: Quiescence): boolean {
  const rn = h.rawNode;
  const st = rn.basicStatus();
  if (st.raftState !== StateType.StateLeader || st.leadTransferee !== None) return false;
  const last = rn.lastIndex();
  if (st.commit !== last || st.applied !== last) return false;
  if (h.confState().votersOutgoing.length > 0 || !h.idle() || rn.hasReady()) return false;
  let caughtUp = true;
  rn.withProgress((id, _t, pr) => {
    if (id === st.id) caughtUp &&= pr.match === last;
    else if (liveness.isLive(id)) caughtUp &&= pr.match === last && pr.recentActive;
  });
  return caughtUp;
}
