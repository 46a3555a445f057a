"""Cues: what a person's words say, as people write them, in French (Québec and France) and English
(Canada, UK, US), formal or not, without accents, with common typos.

Each cue is one readable pattern over folded text (`words.fold`: lower case, no accents, plain
apostrophes). They are written from how people ask, not from any one message: a cue is a feature
the reader weighs with the others and with the context, never a decision by itself.

Two cues are narrower than the rest: `booking_explicit` and `objection_explicit` hold only the
plain ways of saying it ("can I book", "je voudrais un rendez-vous", "too expensive", "trop
cher"). They are features like the others, and the reader's bands take them as the evidence that
makes it sure (`reading._band`).

A cue said in the negative ("not too expensive", "je ne veux surtout pas annuler") does not count:
`NEGATED` cues are skipped when a negation stands just before them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def _cue(*alternatives: str) -> re.Pattern[str]:
    """One pattern from alternatives; each is a regex fragment matched on word boundaries."""
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")


_DAY = (
    r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?s?|"
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
)
_APPT = (
    r"appointments?|appt|sessions?|massages?|calls?|consultations?|consult|meetings?|visit|"
    r"rendez[- ]?vous|rdv|seances?|appels?|rencontres?|point|cours|booking|reservation"
)
# An amount: "$90", "80 $", "25 €", "100 piasses"
_MONEY = r"(?:[$€£] ?\d+|\d+ ?(?:\$|€|£|euros?|dollars?|bucks|piasses))"
# What is moved or cancelled: "my appointment", "notre séance", "Thursday's session", "it"
_THING = (
    r"(?:(?:my|our|the|this|that|next|tomorrow's|today's|next week's|" + _DAY + r"'s?) "
    r"(?:\w+ )?(?:" + _APPT + r"|\d+(?:am|pm|h)?|time|slot|one|" + _DAY + r")|it|this one|that one|"
    r"(?:mon|ma|notre|le|la|nos|mes|ce|cette) (?:\w+ )?(?:" + _APPT + r"|creneau|plage|heure)|"
    r"ca|cela|" + _DAY + r")"
)

CUES: Mapping[str, re.Pattern[str]] = {
    # asking when there is room: "any spots open Thursday?", "t'as-tu de la place", "plages
    # horaires", "what do you have after the 10th?", "fit me in", "week commencing 7th",
    # "what's your earliest?", "anything left before Christmas?", "quelque chose samedi?"
    "ask_availability": _cue(
        # typos welcome ("disponiblité", "disponibilitée"), made-up words not ("disponibleur")
        r"availab\w*|availib\w*|avail|availabilty|dispos?|disponi?b(?:les?|i?li?t\w*)",
        r"any (?:openings?|spots?|slots?|room|space|time|availability|appointments?|places?)",
        r"(?:openings?|spots?|slots?|places?) (?:open|left|available|free|libres?)",
        r"(?:have|got|get|has) (?:any(?:thing)?|some|a|an) (?:\w+[ -](?:minute|min|hour)s? )?"
        r"(?:time|room|space|spots?|slots?|openings?|opening|availability|appointments?)",
        r"(?:have|got) anything|anything (?:left|open|free|available|on|for|in|this|next|after|"
        r"before|that|around)",
        r"room (?:for|to take|to see|to fit) (?:me|us|him|her|a new|one more|another|new)|"
        r"take (?:me|us|him|her) on|taking on",
        r"(?:fit|squeeze|get) (?:me|us|him|her|them) in",
        r"what do you have|what(?:'s| is|s) your (?:availability|schedule|earliest|next)|"
        r"(?:your|the) earliest|earliest (?:opening|slot|appointment|availability|time|date)",
        r"what (?:do|does) (?:the|your) (?:next|coming|following) (?:few |couple of )?(?:days?|"
        r"weeks?|month) look like|how(?:'s| is| does) (?:your|the) (?:\w+ ){0,4}looking",
        r"when (?:could|can|would|might|should) (?:i|we|he|she|they) (?:come|book|see|meet|drop|"
        r"pop|stop|start|get)",
        r"when (?:are|would|will) you (?:be )?(?:free|available|around)",
        r"when is your next|next (?:available|opening)|whenever (?:suits|works|you have)",
        r"(?:are|r) (?:you|u) (?:free|available|around|open)",
        r"any chance (?:i|we|you|u) (?:could|can|might) (?:get|come|book|see|squeeze|fit|grab|"
        r"have|do|pop)|any chance (?:of|for|at) (?:a |an )?(?:spot|slot|opening|appointment|"
        r"session|massage|time|" + _DAY + r"|tomorrow|tonight|this|next|demain)",
        r"(?:de|des) la place|une place|des places|(?:un|des) spots?|plages? (?:horaires?|libres?)|"
        r"(?:une|la|des|vos|tes) plages?|prochaine? (?:place|plage|ouverture|disponibilite)",
        r"(?:un|des|vos|tes|quelques) (?:petits? )?creneaux?|(?:un|des|vos|tes) moments? "
        r"(?:libres?|pour)",
        # "avez-vous des disponibilités", not "avez-vous vu / reçu ...": the asking verb
        # with something to have after it
        r"(?:(?:t|tu) as(?:-| )tu|as-tu|avez-vous|auriez-vous|aurais-tu)(?= (?:de |des |du |d'|"
        r"un |une |quelque|qqch|encore|toujours|rien|dispo|le temps|la place))|vous reste-t-il|"
        r"te reste(?:rait)?(?:-t-il)?|il (?:vous|te) rest\w+|(?:vous|tu) (?:avez|as|auriez|"
        r"aurais|aurai) (?:quelque chose|qqch|de la place|une place|un spot|du temps)",
        r"quelque chose (?:de libre|en|le|la|ce|cette|pour|dans|avant|apres|" + _DAY + r")",
        r"(?:es|etes|serais|seriez)(?:-| )(?:tu|vous) (?:libre|disponible|dispo)",
        r"quand (?:est-ce que |est ce que )?(?:je|on|nous|il|elle) (?:peux|peut|pourrai\w*|"
        r"pourrions|pouvons|puis)",
        r"quand pourri\w*|a partir du|apres le|after the \d+\w*|w/?c|week (?:commencing|of)",
        r"semaine du|la semaine prochaine|next week|this week|cette semaine",
        r"waitlist|wait list|liste d'attente|openings?|ouvertures?|cancell?ations? list",
        r"(?:same|usual) (?:time|slot|day|hour)(?: as)? (?:usual|last time|d'habitude)|"
        r"(?:comme|que) d'habitude|the usual|(?:meme|notre) heure habituelle",
        r"quand (?:est-ce que |est ce que )?(?:tu|vous) (?:peux|pouvez|pourrais|pourriez|pourras|"
        r"pourrez) (?:me|nous)",
        r"is there (?:any |a |an )?(?:time|slot|opening|spot|room|space|availability|chance "
        r"(?:i|we|of|for))",
        r"(?:can|could|would|will) you (?:see|take|fit|squeeze|book|get) (?:me|us|him|her|my|"
        r"our)",
        r"(?:when|what time|what day|which day)(?:'s| is| would be| are)? (?:good|best|"
        r"convenient|works?|suits?|free) (?:for you)?|(?:let me know|tell me) when (?:you're|you "
        r"are|you'd be|you would be|you have)",
        r"(?:do|are) you (?:work|open|available|see clients|take clients)(?:ing)? (?:on )?(?:"
        + _DAY + r"|weekends?|evenings?|mornings?|nights?|late|early)",
        r"(?:travaillez|travailles|ouvrez|ouvres|recevez|re[cç]ois)(?:-| )(?:vous|tu) (?:le |les )?"
        r"(?:" + _DAY + r"|soirs?|fins? de semaine|weekends?|matins?)",
        r"when (?:is it|would it be|will it be|could it be) possible|quand (?:est-ce|serait-il|"
        r"est-il|ce serait|serait-ce) possible|quand (?:pourrais|puis|peux|pourrions|pouvons)-"
        r"(?:je|nous)",
    ),
    # whether something could be done: "serait-il possible", "is Tuesday doable?" (a request
    # when it asks for a time, a question about a service otherwise: not a request by itself)
    "possible": _cue(
        r"(?:serait|est-ce|est ce|est-il|serait-il|c'est|ce serait|ca serait) (?:que c'est )?"
        r"possible|possible de|is (?:it|that|next week|\w+day) (?:possible|doable)|doable|"
        r"(?:would|could) (?:it|that|this|\w+day) (?:be )?(?:possible|work)|(?:would|could) work",
    ),
    # wanting an appointment: "I'd like to book", "je voudrais un rendez-vous", "can I come
    # Tuesday at 3?", "could we set up", "prendre rdv", "are you taking new clients?"
    "want_booking": _cue(
        # "before I book anything" puts a question first: not the request itself
        r"(?<!before i )(?<!before we )(?<!avant de )(?:re)?book(?:s|ed|ing|ings)?|"
        r"(?<!avant de )reserv\w*|schedul\w*|pencil (?:me|us) in|"
        r"put (?:me|us) down",
        r"(?:make|take|set up|setup|arrange|get|have|line up) (?:an?|my|the|our|another|a first)? ?"
        r"(?:appointment|appt|session|consult\w*|call|meeting|massage|rendez-vous|time)",
        r"(?:first|initial|new|next|another|one more|intro(?:ductory)?) (?:appointment|session|"
        r"consult\w*|call|meeting|massage|visit)",
        r"(?:can|could|may|shall) (?:i|we|he|she|you) (?:come|book|see (?:you|me|us)|drop by|"
        r"stop by|get|do|have|set|arrange|schedule|meet|talk|chat|speak|start|fit|find|pop)",
        r"when (?:could|can|shall) (?:i|we) (?:talk|meet|chat|speak|start)|set up|line up|"
        r"sort out a time|find a time|a time to|have a chat|quick (?:call|chat)",
        r"come (?:in|by|see you|back)|pop in|drop by|stop by",
        r"(?:like|love|want|wanting|hoping|looking|keen|ready) (?:to )?(?:start|begin|come|see|"
        r"book|get|talk|work|continue|have|try|do|schedule|set up|arrange)",
        r"looking for (?:a|an|someone|somebody) ?(?:\w+ )?(?:appointment|session|massage|"
        r"therapist|counsell?or|translator|translation|slot)",
        r"(?:serais|suis|serions|sommes) interess\w* (?:par|pour|a) (?:un|une|des|vos|tes|"
        r"prendre|reserver|venir|commencer)|interested in (?:booking|a|an|coming|getting|starting|"
        r"your|some|having)",
        r"prendre (?:un |le )?(?:rendez-vous|rendez vous|rdv)|(?:un|le|mon|mes|prochain) "
        r"(?:rendez-vous|rdv)",
        r"(?:voudrais|voudrai|voudrions|aimerais|aimerai|aimerions|aimerait|souhaite\w*|veux|"
        r"voulais|cherche|sollicite) (?:bien )?(?:un|une|prendre|reserver|venir|revenir|reprendre|"
        r"commencer|passer|faire|avoir|consulter|booker|en profiter|vous voir|te voir)",
        r"(?:venir|passer) (?:vous|te) voir|vous rencontrer|(?:me|nous) recevoir",
        r"premier (?:rendez-vous|rdv)|premiere seance|nouvelle? client\w*|new client",
        r"reprendre|revenir|recommencer|come back|get back in",
        r"(?:prenez|prends|prenez-vous|acceptez|take|taking|accept\w*|see|seeing) (?:encore )?"
        r"(?:des |de |new |any )?(?:nouveaux |nouvelles |new )?(?:rendez-vous|clients?|clientes?|"
        r"appointments|bookings|patients)",
        r"caler|fixer (?:un|une)|prevoir (?:un|une|le|la)|planifier|organiser (?:un|une)",
        r"(?:on|nous) (?:pourrait|pourrions|peut|pourrait-tu|pourrait-on)",
        r"(?:pourriez|pourrais|pouvez|peux)(?:-| )(?:vous|tu) (?:me|nous) (?:proposer|trouver|"
        r"donner|indiquer|recevoir|prendre|caser)",
        r"(?:give|send|propose|suggest|offer) (?:me|us) (?:some|a few|two|three|several)? ?"
        r"(?:\w+ )?(?:times|options|possibilities|slots|dates)",
        r"(?:j'aurais|j'ai|on aurait|nous aurions|aurais|aurions) besoin d'(?:un|une)|"
        r"(?:je|on|nous) (?:pourrais|pourrait|pourrions|peux|peut) (?:venir|passer|avoir|prendre)",
        r"let (?:me|us) know (?:what|when)",
        r"(?:i'd|i would|we'd|we would|i'd really|i would really) (?:like|love) (?:a|an|one|two|"
        r"some|to get|to have|to try)|(?:i|we) (?:really )?(?:need|want) (?:a|an|one|two|some|to "
        r"see|to get|to come|to book)|i'm after (?:a|an)",
        r"(?:appointment|booking|session|consultation|rendez-vous|rdv|reservation|massage) "
        r"(?:request|inquiry|enquiry)|(?:request|demande|prise) (?:for|de|d') ?(?:an? )?"
        r"(?:appointment|rendez-vous|rdv|session|seance|consultation|reservation|massage)",
        r"possible (?:de|d') ?(?:venir|passer|avoir un|avoir une|prendre|reserver|booker|me voir|"
        r"vous voir|te voir|vous rencontrer|me caser|me prendre|me recevoir)|possible to (?:come|"
        r"get|have|see|book|schedule|squeeze|fit|pop|drop)",
        r"get in (?:to see|with) you|(?:see|seeing) you (?:on|this|next|before|after|again)|"
        r"(?:vous|te) voir (?:le|la|ce|cette|lundi|mardi|mercredi|jeudi|vendredi|samedi|"
        r"dimanche|demain|bientot|avant|apres)",
    ),
    # the plain ways of asking for an appointment: the reader is sure of these
    "booking_explicit": _cue(
        r"(?:can|could|may) (?:i|we) (?:please )?(?:book|schedule|make an appointment|get an "
        r"appointment|come in|reserve)",
        r"(?:i|we)(?:'d| would)? (?:like|love|want|wish|need|hope|(?:am|'m|are|'re) (?:looking|"
        r"hoping|wanting)) to (?:book|schedule|make an appointment|reserve|come in)",
        r"(?:is it|would it be) possible to (?:book|schedule|make an appointment|get an "
        r"appointment|come in)|book (?:me|us) in",
        r"(?:do|would|will) you have (?:any )?(?:availability|availabilities|openings?|spots?|"
        r"slots?|room|space|time)",
        r"any (?:openings?|spots?|slots?|availability) (?:open |left |available )?(?:on|this|next|"
        r"for|in|before|after|\w+day)",
        r"are you (?:taking|accepting) (?:new|any)",
        r"(?:je |j'|j|nous |on )(?:voudrais|voudrions|aimerais|aimerions|aimerait|souhaiterais|"
        r"souhaiterions|souhaite|souhaitons|veux|voulais) (?:bien )?"
        r"(?:prendre |reserver |avoir |booker )?"
        r"(?:un |une )?(?:rendez-vous|rdv|seance|massage|consultation|appel|place|creneau)",
        r"(?:je |j'|j|nous )(?:voudrais|voudrions|aimerais|aimerions|souhaiterais|souhaite|veux) "
        r"(?:bien )?reserver",
        r"(?:puis-je|pourrais-je|peut-on|pourrait-on|pourrions-nous|est-ce que je (?:peux|"
        r"pourrais)|je peux|je pourrais) (?:prendre|avoir|reserver|booker) (?:un |une )?"
        r"(?:rendez-vous|rdv|seance|massage|consultation|appel|place|creneau)",
        r"(?:avez|auriez|as|aurais)(?:-| )(?:vous|tu) (?:des |de la |une |un )?(?:disponibilit\w*|"
        r"dispos?|places?|creneaux?|plages?|spots?)",
        r"(?:t|tu) as(?:-| )tu (?:de la |une |un |des )?(?:place|spot|dispo|creneau|plage)",
        r"(?:vous avez|tu as|t'as|vous auriez|tu aurais|t'aurais) (?:des |de la |une |un )?"
        r"(?:petite? )?(?:disponibilit\w*|dispos?|places?|creneaux?|plages?|spots?)",
        r"(?:vos|tes) (?:prochaines )?(?:disponibilites|dispos|creneaux|plages)",
        r"(?:prenez|prends|acceptez)(?:-| )(?:vous|tu)? ?(?:encore )?(?:des |de )?nouve\w+ client",
        r"quand (?:pourrais|puis|pourrions)-(?:je|nous) (?:passer|venir|vous voir|te voir)",
        r"(?:dispo|disponible|available|free|libre)s? (?:" + _DAY + r"|demain|tomorrow|ce soir|"
        r"tonight)(?: [\w:']+){0,3} ?\?",
        r"(?:un|une|a|an) (?:\w+ )?(?:rendez-vous|rdv|seance|massage|appointment|session|"
        r"consultation) (?:svp|stp|s'il vous plait|s'il te plait|please|pls|plz)",
    ),
    # none of the offered times suits: "aucun de ces créneaux ne me convient", "none of those
    # work for me" (other times are asked for, or nothing)
    "reject_offer": _cue(
        r"aucune? (?:de ces|des|de vos) (?:creneaux|heures|plages|options|moments|dates|"
        r"propositions)|ne (?:me|nous) (?:convien\w*|va|vont|conviendr\w*|arrange\w*)|"
        r"none of (?:these|those|the|them|your)|(?:doesn't|don't|do not|does not|won't|will not) "
        r"work (?:for (?:me|us))?|(?:can't|cannot) (?:do|make) any of",
    ),
    # a day or a time asked about, alone: "thurs?", "samedi?", "demain ou vendredi possible?"
    "day_ask": _cue(
        r"(?:" + _DAY + r"|demain|tomorrow|tonight|ce soir|this weekend|ce weekend|la fin de "
        r"semaine|the weekend|le weekend)(?: [\w:']+){0,4} ?\?",
        r"(?:does|would|will|is|could) (?:" + _DAY + r"|tomorrow|next \w+|the \d+\w*|this \w+)"
        r"(?: [\w:]+){0,3} (?:work|suit|be ok|be okay|be possible|ok|okay|be free|free|open)",
    ),
    # ending an appointment: "I have to cancel Thursday", "je dois annuler", "can't make it"
    "cancel": _cue(
        r"cancel\w*|annul\w*|cancel(?:l)?ation|desist\w*|decommand\w*",
        r"(?:can't|cannot|can not|won't|will not|wont|cant|not going to|unable to|not able to) "
        r"(?:make it|come|attend|be there|make (?:it|" + _DAY + r"))",
        r"(?:ne|n') ?(?:pourrai|pourrais|peux|pourra|pourrons) (?:pas|plus) (?:venir|etre|y aller|"
        r"me presenter|m'y presenter)",
        r"pourrai pas (?:venir|etre)|peux pas venir|liberer (?:la|ma|le) (?:place|plage|creneau)",
        r"(?:won't|will not|wont|not) be able to (?:make it|come|attend|be there)",
        r"take (?:me|us) off|don't hold|do not hold|no longer need|won't need|will not need|"
        r"(?:won't|will not|wont) be needing|out of (?:the|your) (?:diary|calendar|schedule|books)|"
        r"laisser tomber|laisse tomber|"
        r"(?:peux|pourrai|pourrais|pourra|pourrons) (?:pas|plus) (?:venir |etre la )?(?:demain|"
        r"ce soir|aujourd'hui|cette semaine|" + _DAY + r")|(?:can't|cannot|won't) (?:do|make) "
        r"(?:tomorrow|tonight|today|this week|" + _DAY + r")|"
        r"no need for (?:our|my|the)",
        r"stop (?:therapy|sessions|coming)|arreter (?:les|mes) seances",
    ),
    # moving an appointment: "can we push it back a week?", "on peut remettre ça?", "décaler"
    "reschedule": _cue(
        r"reschedul\w*|re-schedul\w*|rebook|postpone\w*|repousser|repousse|decal\w*",
        r"(?:move|push|shift|switch|change|bump|swap|bring) " + _THING + r" (?:back|"
        r"forward|later|earlier|up|to|from|for|over|by|a (?:day|week|bit)|an hour|instead)",
        r"(?:move|push|shift|switch|bump|swap|change) " + _THING,
        r"(?:move|push|shift|bump) (?:back|forward|to|it)|push (?:ca|notre|mon|ma)",
        r"(?:move|push|shift|bump|switch) (?:this|that|tmrw|tomorrow|today|tonight|" + _DAY
        + r")(?: \w+)? (?:to|back|until|till)",
        r"(?:le |un |du )?report (?:de|du) (?:notre|mon|ma|votre|l'|la|le)",
        r"instead|rather than|another (?:day|time)|a different (?:day|time)|other (?:day|time)",
        r"(?:start|come|begin|make it) (?:\d+ minutes |an hour |half an hour |a bit |a little )?"
        r"(?:later|earlier)",
        r"(?:same time|same hour|meme heure) (?:but |mais )?(?:the |next |la )?(?:following |"
        r"next )?(?:week|semaine)",
        r"(?:deplacer|changer|avancer|reporter|remettre|glisser) " + _THING,
        r"changer (?:de|d') ?(?:jour|journee|date|moment|creneau|plage|heure)",
        r"(?:le |la |l'|les )(?:deplacer|changer|avancer|reporter|remettre|decaler)",
        r"(?:on peut|peut-on|pourrait-on|on pourrait|est-ce qu'on peut|je peux|je pourrais) "
        r"(?:tu )?(?:changer|deplacer|reporter|remettre|avancer|decaler|push)",
        r"remettre (?:ca|cela|a plus tard|a la semaine)|reporter (?:a|au|de)|report a",
        r"changement (?:de plan|d'horaire|d'heure|de date|de rendez-vous)|petit changement",
        r"au lieu (?:du|de)|a la place|plutot (?:qu'|que|le|la|l'|en|a|vers)|un autre (?:jour|"
        r"moment|creneau|soir|matin|apres-midi)|une autre (?:journee|plage|heure|date|soiree)",
        r"plus tard dans la (?:semaine|journee)|later (?:in|this) (?:the )?(?:week|day)",
    ),
    # the plain ways of moving an appointment one has: never a new booking
    "reschedule_explicit": _cue(
        r"reschedul\w*|re-schedul\w*|postpon\w*|push(?:ed|ing)? (?:it |this |that )?back|"
        r"decaler|decale[rz]?|decalage|repousser|repousse[rz]?|reporter|reportons",
        r"(?:move|moving|push|shift|switch|bump|swap|change|changing) (?:my|our|the|this|that|"
        r"tomorrow's|today's|next week's|" + _DAY + r"'s?)(?: \w+)? (?:" + _APPT + r")",
        r"(?:move|push|shift|bump) (?:it|this one|that one) (?:back|forward|to|later|earlier|by)",
        r"(?:deplacer|decaler|reporter|repousser|remettre|avancer|changer|modifier) (?:l'heure de |"
        r"la date de |l'horaire de )?(?:mon|ma|notre|nos|le|la)(?: \w+)? (?:" + _APPT + r")",
        r"(?:le |la |l')(?:deplacer|decaler|repousser|avancer)",
        r"(?:change|changer|switch|move|swap|modify|modifier) (?:it |ca |cela )?"
        r"(?:for|to|pour|a|au) (?:" + _DAY + r"|demain|tomorrow|next|another|la semaine|"
        r"un autre|une autre|the \d+|le \d+)",
        r"(?:change|modify|changer|modifier) (?:the |l')(?:time|hour|day|date|heure|horaire|jour)"
        r"(?: \w+){0,2} (?:of |for |de |du |d')?(?:my|our|the|mon|ma|notre|le|la)(?: \w+)? "
        r"(?:" + _APPT + r")",
        r"(?:empechement|conflict|conflit|clash) (?:pour|avec|with) (?:mon|ma|notre|my|our)",
        r"(?:my|our|mon|ma|notre) (?:\w+ )?(?:" + _APPT + r")(?: \w+){0,8} (?:instead|a la place|"
        r"au lieu|plutot)|(?:instead of|au lieu de|a la place de) (?:my|our|mon|ma|notre)",
    ),
    # the plain ways of cancelling an appointment one has
    "cancel_explicit": _cue(
        r"cancel(?:l?ing)? (?:my|our|the|this|that|it|tomorrow's|today's|next week's|" + _DAY
        + r"'s?|for|on)",
        r"(?:have|need|got|going|want|wanted|would like|'ll have|will have|must) to cancel|"
        r"i must cancel|(?:i'm|i am|we're|we are) cancell?ing",
        r"annuler (?:mon|ma|notre|nos|le|la|pour|ca|cela|" + _DAY + r")|j'annule|"
        r"(?:dois|devoir|vais|prefere|veux|voudrais|dois malheureusement) annuler",
    ),
    # the price mentioned at all: "c'est combien ?", "what are your rates?"
    "price": _cue(
        r"prices?|pricing|pricey|prix|tarifs?|rates?|fees?|costs?|cout\w*|coute|frais|combien|"
        r"how much",
    ),
    # the price as an obstacle: "student rate", "better price", "any flexibility on the price",
    # "prix réduit", "c'est trop cher", "can't afford", "would you do $90?", "a real stretch",
    # "more than I expected", "pay in instalments"
    "price_objection": _cue(
        # "une réduction ?", "une remise de 10 %", not "réduction du stress", "remise en forme"
        r"discount\w*|rabais|reduction(?! (?:du |des |de la |de l'|d'|de )(?!prix|tarifs?|couts?|"
        r"frais|factures?|montant))|reduit\w*|reduced|remise(?! (?:en|a|au|aux) )|ristourne|"
        r"geste|concessions?|"
        r"(?:a|any|petit|good|better|special) deal",
        r"(?:student|etudiante?s?|senior|seniors|retraite\w*|healthcare|associati\w*|solidaire|"
        r"regular[- ]client|first visit|fidelite|loyalty|couples?|intern) (?:rate|price|prix|tarif|"
        r"discount|fee)",
        r"(?:prix|tarif|rate|price|fee|tarifs) (?:etudiants?|etudiant|reduit|preferentiel|special|"
        r"degressif|solidaire|associatif|ajuste|global|d'ami|pour (?:les )?(?:etudiants?|amis|"
        r"nouveaux|couples?|aines|personnes))",
        r"low income|unemployed|sliding scale|echelle mobile|pay what i can",
        r"budget(?:s|ed|ing|er|aire|aires)?|afford\w*|"
        r"(?:pas|plus|peu|faibles|tres limites|nos) (?:les )?moyens|"
        r"(?:trop|un peu|assez|bien|c|ca fait|fait) cher\w*|expensive|too much|"
        r"a lot for (?:me|us|my|our)|a bit much|c'est beaucoup|fait beaucoup|"
        r"(?:vraiment|trop|un peu) beaucoup|"
        r"pas donne|steep|costly|overpriced|seems high|au-dessus|above (?:my|our|what)|"
        r"more than (?:we|i)(?:'d| had| was)? ?(?:budgeted|expected|hoped|thought|expecting|"
        r"planned|can)|(?:is|isn't) (?:hard on|not realistic|realistic)|"
        r"(?:a|real|quite a|big) stretch|raide|"
        r"(?:plus|pas) raisonnable|more reasonable|(?:can't|cannot|can not) (?:justify|swing|"
        r"manage|do more)|pese lourd|fait mal au portefeuille",
        r"negoti\w*|negoci\w*|flexib\w* (?:on|sur|with|about|for) (?:the |le |your |vos |vot )?"
        r"(?:price|prix|tarifs?|rates?|fees?|cost|that|[$€£]|\d+ ?[$€£])|flexib\w* (?:there|"
        r"la-dessus)|(?:any|some) flexibility ?[?.]|wiggle room|leeway|marge de "
        r"manoeuvre|match (?:that|it|their)|(?:able to|could|can you) meet (?:that|it)|"
        r"(?:lower|better|special|cheaper|reduced|petit|friends?) (?:price|rate|fee|prix|tarif)",
        r"moins cher\w*|baisser|faire mieux|do better|(?:do|accept|take|accepteriez|accepter|"
        r"faire|match|consider|go down to|settle for) (?:it for |ca pour |pour |at |a )?" + _MONEY,
        r"aligner|s'arranger sur le prix|(?:lower|lowering|reduce|reducing|drop|dropping|reduire|"
        r"baisse[rz]?|baisses) (?:un peu )?(?:the |your |my |a |le |vos |ton |votre )?(?:price|"
        r"rate|fee|cost|prix|tarif)s?|(?:lower|less)[- ]cost|ancien tarif|old (?:rate|price)",
        r"package deal|forfait|flat (?:rate|price|fee)|exception",
        r"(?:quoted|charges?|charging|quote from|m'a propose|propose|proposait|factur\w*) "
        r"(?:me |us |moi )?(?:about |around |autour de |environ |only |seulement )?" + _MONEY,
        r"(?:pay|paying|payer|regler) (?:you )?(?:in|by|en) (?:instal\w*|two|2|three|3|several|"
        r"parts|plusieurs|deux|trois) ?(?:fois|parts|versements|payments)?|payment plan|"
        r"split (?:the|it|across|into|over|the payment)|etaler|echelonner|plusieurs versements|"
        r"pay (?:you )?(?:later|next month|in january|when)",
        # paying less than the price: "payer le prix du 60", "pay the 60-minute price", "pay less"
        r"(?:pay|payer|paying|regler) (?:only |seulement |juste )?(?:le (?:prix|tarif) (?:du|d'un|"
        r"d'une|de la|de l')|the (?:price|rate) (?:of|for) (?:the|a|an)|less|moins|half|la moitie)",
    ),
    # the plain ways of saying the price is the obstacle: the reader is sure of these
    "objection_explicit": _cue(
        r"(?:too|so|very|really|a bit|quite|rather|kinda|a little) (?:expensive|pricey|steep|"
        r"costly)|overpriced|(?:can't|cannot|can not|couldn't|unable to) afford|"
        r"(?:out of|over|above|beyond) (?:my|our) budget|too much for (?:me|us)|"
        r"(?:a lot|too much) for (?:me|us)",
        r"(?:student|senior|seniors|reduced|lower|special|loyalty|sliding) (?:rate|price|fee|"
        r"discount)|sliding scale|(?:any|a|some) discount|discount for",
        r"(?:trop|vraiment|un peu|assez) cher\w*|c'est cher|hors de prix|"
        r"(?:pas|plus) (?:vraiment |trop )?les moyens|au-dessus de (?:mon|mes|notre|nos) "
        r"(?:budget|moyens)|hors budget",
        r"(?:tarif|prix) (?:etudiant|reduit|preferentiel|special|solidaire)|rabais|"
        r"(?:une|petite|de|possibilite de) reduction (?:de prix|tarifaire|sur|pour|etudiant)|"
        r"geste commercial",
        r"(?:lower|reduce|drop) (?:the |your )?(?:price|rate|fee)|baisser (?:le|vos|ton|votre) "
        r"(?:prix|tarif)",
        r"(?:would|could|can|will) you (?:be able to |be willing to )?(?:do|accept|consider|take|"
        r"go down to|match)(?: [\w-]+){0,5} " + _MONEY,
        r"(?:accepteriez|accepterais|pourriez|pourrais|feriez|ferais)(?:-vous|-tu| vous| tu)?"
        r"(?: \w+){0,5} " + _MONEY,
    ),
    # asking whether the freelancer offers something: "do you do evening sessions?", "offrez-vous
    # les séances en français ?" (a question, or the first half of a booking request)
    "service_question": _cue(
        r"do you (?:also )?(?:offer|do|take|accept|provide|sell|see|work with|treat|direct bill|"
        r"translate|speak|have a|charge|work)",
        r"(?:est-ce que|est ce que) (?:vous|tu) (?:offrez|offres|faites|fais|prenez|prends|"
        r"acceptez|acceptes|traduisez|recevez|parlez|proposez|fournissez|vendez|travaillez)",
        r"(?:offrez|faites|prenez|acceptez|traduisez|recevez|parlez|proposez|fournissez|vendez|"
        r"travaillez)-vous",
        r"are you (?:able|allowed|registered|a member|licensed|covered)|(?:etes|es)-(?:vous|tu) "
        r"(?:inscrite?|membre|agree|reconnue?)",
    ),
    # a pick among offered times: "2", "le 2 svp", "the first one works", "option 3 please"
    "pick": _cue(
        r"option (?:n[o°]?\s?)?\d|number \d|no\.? ?\d|#\s?\d|n°\s?\d|creneau (?:n[o°]?\s?)?\d",
        r"(?:le|la|ok pour le|va pour le|yes to) (?:\d|premier|premiere|deuxieme|second|"
        r"seconde|troisieme|dernier|derniere)(?! (?:fois|annee|mois|semaine))",
        r"the (?:\d|first|second|third|last|earliest|latest|1st|2nd|3rd)(?: one| option| slot| "
        r"time| works| is| please| pls|\W*$)",
        r"(?:first|second|third|earliest|latest|1st|2nd|3rd) (?:one|option|slot|time)|"
        r"last (?:one|option|slot)",
        r"(?:i'll|i will|we'll|we will|i'd like to|let's go with|let's do|i) (?:take|choose|go "
        r"with|pick)(?! (?:them|it) up)",
        r"je (?:prends|prendrai|prendrais|retiens|choisis|vais prendre)|on prend|nous retenons|"
        r"(?:celui|celle) (?:de|du)",
        r"works (?:for|fine|great|well)|suits (?:me|us)|is perfect|is fine|sounds good|"
        r"is great|would be (?:perfect|ideal|great)",
        r"me (?:va|convient|conviendrait|irait)|m'(?:arrange|adonne|irait|va)|nous (?:va|convient)|"
        r"(?:c'est )?parfait pour|ca me va",
        r"see you then|a (?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)|book me in",
    ),
    # a question for the freelancer: parking, what to wear, receipts, insurance, gift cards...
    "question_topic": _cue(
        r"park\w*|stationn\w*|se stationne\w*|entrance|entree|door|porte|buzzer|ascenseur|"
        r"elevator|stairs|address|adresse|directions?|accessib\w*",
        r"wear|porter|bring|apporter|amener|(?:fill|forms?)|formulaire|intake",
        r"receipts?|recus?|invoices?|factures?|insurance|assurances?|assureur|coverage|"
        r"registration|membre|member(?:ship)?|association|numero|number",
        r"gift (?:cards?|certificates?)|certificats?-cadeaux?|cartes?-cadeaux?|bons? cadeaux?",
        r"zoom|link|lien|phone|telephone|in person|en personne|online|en ligne|teams",
        r"pay(?:ment)?|payer|paiement|e-?transfer|virement|interac|cheques?|checks?|cash|"
        r"comptant|credit card|carte",
        r"allerg\w*|pregnan\w*|enceinte|baby|bebe|accompan\w*|join|confidential\w*",
        r"originals?|originaux|scans?|copies|apostille|accepted|acceptee?s?|recognized|"
        r"reconnue?s?|certif\w*",
    ),
    # "my appointment", "mon rendez-vous de jeudi", "tomorrow's session", "notre séance"
    "my_appointment": _cue(
        r"(?:my|our|the|this|next|tomorrow's|today's|" + _DAY + r"'s) (?:usual |next |upcoming )?"
        r"(?:" + _APPT + r")",
        r"(?:mon|ma|notre|le|la|nos|mes) (?:prochain |prochaine )?(?:" + _APPT + r")"
        r"(?: (?:de|du|d'|prevue?))?",
        r"(?:i|we) (?:have|had|booked) (?:an? |my )?(?:appointment|session|massage|call)",
        r"j'ai (?:un )?(?:rendez-vous|rdv|mon massage|ma seance)|confirm\w*",
    ),
    # thanks and looking back: "thank you for today", "merci pour hier", "it was great"
    "thanks": _cue(
        r"thank you for|thanks for|thanks again|thank u|merci (?:encore|beaucoup pour|pour|"
        r"d'avoir|infiniment)|un grand merci|je voulais (?:vous|te) remercier|"
        r"(?:wanted|want) to (?:say )?thank",
        r"feel(?:s|ing)? (?:so much )?(?:better|amazing|great|lighter)|(?:va|vont) (?:beaucoup )?"
        r"mieux|fait (?:un )?bien|was (?:great|amazing|perfect|wonderful)|all perfect",
        r"no need to reply|pas besoin de (?:me )?repondre|got them|received|bien recu",
    ),
    # later, not now: "I'll write again in January to book", "je vais vous réécrire"
    "later": _cue(
        r"(?:i'll|i will|will|je vais|on va|je vous|je te) (?:\w+ )?(?:reecrire|recontacter|"
        r"reviens|reviendrai|get back to you|get in touch|be in touch|reach out|write again|"
        r"write (?:to )?you (?:again|after|in|when)|contact you (?:again|after|in|when)|"
        r"rappeler)",
        r"(?:i'll|i will|je vais|on va|we'll|we will) (?:\w+ )?(?:book|reserver|booker|prendre "
        r"(?:un )?(?:rendez-vous|rdv))(?: [\w']+){0,3} (?:when|quand|after|apres|once|des que|"
        r"in january|en janvier|next year|l'an prochain|later|plus tard)|"
        r"hold(?:ing)? off|pas tout de suite|not (?:right )?now|for now|pour l'instant|"
        r"after the holidays|apres les fetes|in the new year",
    ),
    # somebody else will write: "my colleague will write to you to book"
    "third_party": _cue(
        r"will (?:write|email|e-mail|reach out|contact|get in touch)(?: to)?(?: with)? you",
        r"(?:va|vont|devrait) (?:vous|t') ?(?:ecrire|contacter|joindre)|(?:vous|te|t') ?(?:ecrira|"
        r"contactera|recontactera|appellera|joindra|telephonera)|"
        r"will (?:call|phone|ring|email|contact|reach out to|write to|get back to) you|"
        r"(?:reach|write) (?:out )?to you (?:directly|herself|himself)|let (?:her|him|them) reach",
        r"je (?:te|vous) presente|i'm copying|introduc\w*|presentation",
    ),
    # social life: dinners, drinks, parties, coffee
    "social": _cue(
        r"souper|diner|dinner|drinks?|party|parties|5 a 7|cinq a sept|cafe|coffee|brunch|"
        r"birthday|anniversaire|fete|bar|resto|restaurant|noel|christmas|sapin|wine|apero|"
        r"bisous|bises|xo+|love,|beta|soeurette|maman|mom|dad|papa",
    ),
    # business offers, recruiting, vendors, software
    "business": _cue(
        r"opportunit\w*|recrut\w*|recruit\w*|hiring|job|poste|cdi|cv|stage|talent\w*|vendor\w*",
        r"webinar|webinaire|platform|plateforme|free trial|essai gratuit|demo|seo|referencement|"
        r"visibilit\w*|profil\w*|your practice|votre pratique|your (?:website|site)|"
        r"votre site|grow|leads?|caseload|audit",
        r"invoice #|facture (?:no|n°|n)|order #|commande|purchase order|po \d+|abonnement|"
        r"subscription|renew\w*|renouvel\w*|payout|shipped|livraison|tracking|suivi",
        r"project|projet|mission|word count|words?,|mots|deadline|sous-trait\w*|subcontract\w*",
    ),
    # a machine wrote it: unsubscribe links, "do not reply", "automatically generated"
    "machine_words": _cue(
        r"unsubscribe|se desabonner|desabonn\w*|desinscri\w*|manage (?:your )?(?:preferences|"
        r"notifications)|update your preferences|gerer (?:les|mes) notifications",
        # a machine's "do not reply to this email", not a person's "don't reply to her email"
        r"(?:do not|don't|please do not|please don't) reply(?: directly)? (?:to )?(?:this|to this)"
        r"(?: \w+)? ?(?:e-?mail|message|address|notification|courriel)?|"
        r"(?:do not|don't|please do not) reply(?= ?[.!*:\-]| ?$)|"
        r"(?:ne pas|n'y|merci de ne pas) (?:y )?repondre(?: directement)?(?: (?:a )?(?:ce|cet) "
        r"(?:e-?mail|courriel|message|adresse))?(?! (?:a (?:sa|son|ses|mon|ma)|sur))",
        r"automatically generated|automated message|message automatique|genere automatiquement|"
        r"envoye automatiquement|automatiquement",
        # "you are receiving this because you subscribed", not a disclaimer's "if you have
        # received this message in error"
        r"you(?:'re| are) receiving this (?:\w+ )?(?:because|as|since)|vous recevez (?:cet|ce) "
        r"(?:e-?mail|courriel|message) (?:car|parce|puisque|en tant)|"
        r"view (?:it )?in (?:your )?browser|reply to review|repondre a l'avis",
    ),
}

# A pitch to the freelancer rather than a client's request: recruiters, platforms, networks,
# vendors, peers proposing a partnership ("building a team of therapists, would you be open to a
# quick chat Thursday?", "à la recherche de massothérapeutes", "a referral arrangement, coffee
# next week?"). Not a feature of the model: a stranger's booking reading with these words is left
# for the freelancer (rules.mail.reading._band). Only words a client asking for the freelancer's
# own service does not write: "I found your profile on Psychology Today" is a client's.
PITCH = re.compile(
    r"(?<![a-z0-9])(?:recruit\w*|recrut\w*|hiring|headhunt\w*|join (?:our|the) (?:team|network|"
    r"platform)|building (?:a|our) team|(?:job|career|employment|business) (?:opportunit\w*|"
    r"proposal|proposition)|exciting opportunit\w*|(?:our|notre) (?:platform|plateforme|network|"
    r"reseau)|we handle (?:all )?(?:billing|bookings?|marketing)|webinars?|"
    r"webinaires?|sponsor\w*|grow your (?:practice|business|caseload)|developper votre|"
    r"a la recherche de (?:\w+ ){0,2}(?:massotherapeutes|therapeutes|traducteurs|traductrices|"
    r"candidat\w*|profils?)|(?:entrevue|entretien) (?:telephonique|d'embauche)|offre d'emploi|"
    r"partenariats?|partnerships?|partnering with|referral (?:arrangement|"
    r"partnership|program\w*|agreement|network)|freelancers? (?:wanted|needed)|"
    # a profession in the plural is sought by a platform, not by a client ("a therapist")
    r"(?:looking for|seeking|recherchons|cherchons|recherche) (?:\w+ ){0,3}(?:therapists|"
    r"translators|freelancers|practitioners|counsell?ors|clinicians|rmts|traducteurs|"
    r"traductrices|therapeutes|massotherapeutes|independants)|"
    r"(?:on|nous) aid(?:e|ons) (?:les|des)|we help (?:\w+ ){0,3}(?:businesses|practices|"
    r"practitioners|therapists|freelancers|professionals|independents)|"
    r"(?:doubler|double|tripler|triple) (?:your|vos|leurs|their) |premieres? pages? de google|"
    r"(?:freelance|vendor|translator|our) (?:pool|network|roster|database)|gauging capacity|"
    r"first page of google|calendly|demo|demonstration|free trial|essai gratuit|"
    # peers and organisers: panels, conferences, referral networks, research, the press
    # (not "conference", "ma thèse", "confrère": a client's trip, a translation, a lawyer's words)
    r"panels?|guest speaker|conferencier\w*|podcasts?|"
    r"(?:vers qui|a qui|to whom) (?:\w+ )?(?:referer|refer)|refer (?:clients|patients|them|"
    r"people)|referer (?:des|mes|nos|les) (?:clients|patients)|"
    r"journalist\w*|journaliste|reportage|(?:survey|sondage|questionnaire) (?:for|pour|on|sur))"
    r"(?![a-z0-9])"
)
# Milder: a booking reading of a stranger's with these is drafted for the freelancer to check.
PITCH_LIKE = re.compile(
    r"(?<![a-z0-9])(?:opportunit(?:y|ies|es?) (?:to|for|de|pour)|your (?:practice|caseload)|"
    r"votre (?:pratique|clientele)|(?:my|mon) (?:agenda|booking link) ?:|(?:our|notre) "
    r"(?:agence|agency)|collaborations?|"
    # a peer introducing themselves by the freelancer's trade or a neighbouring one
    r"(?:i'm|i am|je suis|we are|we're|nous sommes) (?:a |an |un |une )?(?:fellow )?"
    r"(?:psycho)?(?:therapists?|therapeutes?|counsell?ors?|psychologists?|psychologues?|"
    r"translators?|traduct(?:eur|rice)s?|interpret(?:er|e)s?|massage therapists?|"
    r"massotherapeutes?|rmts?|chiropract\w+|osteopath\w*|physio\w*|kinesiolog\w+|"
    r"naturopath\w*|acupunct\w+|coach(?:es)?))(?![a-z0-9])"
)


# Somebody else is to write or call ("M. Perrin vous contactera pour fixer un rendez-vous"): a
# booking reading with it is a draft (not the `third_party` cue's introductions: a client books
# "the free introductory call").
THIRD_PARTY = re.compile(
    r"(?<![a-z0-9])(?:will (?:write|email|e-mail|reach out|contact|get in touch|call|phone|ring)"
    r"(?: to)?(?: with)? you|(?:va|vont|devrait) (?:vous|t') ?(?:ecrire|contacter|joindre|"
    r"appeler)|(?:vous|te|t') ?(?:ecrira|contactera|recontactera|appellera|joindra|"
    r"telephonera))(?![a-z0-9])"
)


# How long the work takes, or what it would cost: a translation's turnaround or a quote is asked
# by some clients to order and by others only to know; the freelancer sizes the work, so a
# booking reading with it is a draft.
TURNAROUND = re.compile(
    # (not the wait for an appointment: "votre délai pour un premier rendez-vous" asks for a time)
    r"(?<![a-z0-9])(?:delais?(?! (?:d'attente|pour (?:un|une|le|la|votre) (?:premier |premiere |"
    r"prochain |prochaine )?(?:rendez-vous|rdv|seance|massage|consultation|place|creneau)))|"
    r"turn ?around|how long (?:does|would|will|do|did) (?:it|you|that)|"
    r"combien de temps|how quickly|how fast|lead time|en combien de|devis|quotes?|quotation|"
    r"estimate)(?![a-z0-9])"
)


# A time or a date spoken of: the booking words of a message that names one ask for a time
# ("Penses-tu pouvoir me caser avant Noël?", "time for my monthly, any Thursday after 5", "U have
# room tmrw aft?"); a question without one asks about the service ("offrez-vous les séances en
# français?"). Not a feature of the model: the reader's gate for a booking offer
# (rules.mail.reading._band). Month names in full ("mar", "may" and "sept" are words too).
WHEN = re.compile(
    # full day names ("mon", "sun" and "sat" are words too), dates and hours, not any number
    r"(?<![a-z0-9])(?:when|quand|what time|quelle heure|which day|quel jour|(?:mon|tues|wednes|"
    r"thurs|fri|satur|sun)days?|tues?|thurs?|thu|weds?|fri|lundi|mardi|mercredi|jeudi|vendredi|"
    r"samedi|dimanche|"
    # a week or a month ahead, not a duration ("enceinte de 20 semaines", "sore for 3 weeks")
    r"today|tonight|tomorrow|tmrw|tmr|demain|aujourd'hui|ce soir|weekends?|fin de semaine|"
    r"(?:this|next|that|following|the) (?:week|month)|week (?:of|commencing)|w/c|in (?:a|one|two|"
    r"\d) (?:weeks?|months?)|(?:cette|la|une|ma|ta|votre) semaine|semaine (?:prochaine|du|"
    r"suivante)|dans (?:une|deux|trois|\d) (?:semaines?|mois)|(?:ce|le) mois(?: prochain)?|"
    # ("am" alone is "I am": hours say "10 am", below)
    r"morning|afternoon|aft|evening|night|matin|apres-midi|soir|"
    r"midi|noon|lunch|dinner time|after|until|apres|"
    # "avant de réserver", "before I book": a step, not a time
    r"before(?! (?:i|we|you|he|she|they|going|doing|booking|anything|committing|deciding)\b)|"
    # (not "pour le massage", "by the way", "pas loin d'ici": "le 10" and "d'ici vendredi" are)
    r"avant(?! (?:de|d'|que|qu'|d'aller|tout)\b)|d'ici (?:la|le|" + _DAY + r"|noel|\d)|jusqu'au|"
    r"soon|bientot|asap|quickly|rapidement|vite|urgent\w*|earliest|next|prochaine?s?|"
    r"christmas|xmas|noel|holidays|fetes|new year|these days|ces temps-ci|wait(?:ing)?|"
    r"attente|how soon|january|february|march|april|(?:in|early|late|mid) may|june|july|august|"
    r"september|october|"
    r"november|december|janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|"
    r"novembre|decembre|(?:jan|feb|apr|jun|jul|aug|sept?|oct|nov|dec)\.?|"
    r"\d{1,2}(?:st|nd|rd|th|er|eme)|(?:le|the|du|au|on) \d{1,2}(?![\d/.,])|\d{1,2} ?(?:h|:)\d{0,2}|"
    r"\d{1,2} ?(?:am|pm)|\d{1,2}/\d{1,2})(?![a-z0-9])"
)

# Cues a negation just before undoes: "not too expensive", "pas trop cher", "je ne veux surtout
# pas annuler", "I don't want to cancel".
NEGATED = frozenset({"price_objection", "objection_explicit", "cancel", "cancel_explicit"})
_NEGATION = re.compile(
    r"\b(?:pas|not|never|jamais|isn't|aren't|wasn't|nullement|aucunement|(?:don't|do not) want "
    r"to|no need to)(?:\s+(?:that|so|too|very|really|si|tellement|vraiment|trop|surtout))?\s+$"
)

# Cues whose match in a short reply is the whole message: "2", "le 2 svp", "ok pour le 1".
_BARE_PICK = re.compile(
    r"^\W*(?:(?:ok|oui|yes|parfait|super|go|va)\W+)?(?:pour |for |pour le |for the |le |la |"
    r"the |option |number |n[o°]\s?|#)?[1-9](?:st|nd|rd|th|er|e)?(?:\W+(?:svp|stp|please|pls|plz|"
    r"merci|thanks|thx|thank you|x+|beaucoup)){0,3}\W*$"
)


def cue_hits(folded: str) -> dict[str, str]:
    """Each cue found in the folded text, with the first words that matched it. Hard-wrapped
    lines are joined first: "could\nwe book" is "could we book"."""
    folded = " ".join(folded.split())
    found: dict[str, str] = {}
    for name, pattern in CUES.items():
        for match in pattern.finditer(folded):
            before = folded[max(0, match.start() - 30) : match.start()]
            if name in NEGATED and _NEGATION.search(before):
                continue
            found[name] = match.group(0)
            break
    return found


def bare_pick(folded_first_lines: str) -> bool:
    """Whether the writer's text is only a number, as a reply to numbered times is."""
    return bool(_BARE_PICK.match(folded_first_lines.strip()))


__all__ = ["CUES", "NEGATED", "bare_pick", "cue_hits"]
